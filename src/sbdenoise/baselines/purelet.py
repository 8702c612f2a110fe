"""PURE-LET: Poisson denoising by interscale Haar wavelet thresholding.

Draft for experiments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORIENTATIONS = ("h", "v", "d")


def haar_decompose(image: np.ndarray, levels: int):
    x = np.asarray(image, dtype=np.float64)
    details = []
    for _ in range(levels):
        a = x[0::2, 0::2]
        b = x[0::2, 1::2]
        c = x[1::2, 0::2]
        d = x[1::2, 1::2]
        ab, cd, ac, bd = a + b, c + d, a + c, b + d
        details.append((ab - cd, ac - bd, (a + d) - (b + c)))
        x = ab + cd
    return details, x


def haar_reconstruct(details, scaling):
    s = np.asarray(scaling, dtype=np.float64)
    for h, v, g in reversed(details):
        out = np.empty((2 * s.shape[0], 2 * s.shape[1]))
        sh, sl = s + h, s - h
        vg, vmg = v + g, v - g
        out[0::2, 0::2] = (sh + vg) / 4
        out[0::2, 1::2] = (sh - vg) / 4
        out[1::2, 0::2] = (sl + vmg) / 4
        out[1::2, 1::2] = (sl - vmg) / 4
        s = out
    return s


def _neighbours(s: np.ndarray, orientation: str):
    sp = np.pad(s, 1, mode="reflect")
    ny, nx = s.shape

    def at(dy, dx):
        return sp[1 + dy : 1 + dy + ny, 1 + dx : 1 + dx + nx]

    if orientation == "h":
        up = at(-1, -1) + at(-1, 0) + at(-1, 1)
        down = at(1, -1) + at(1, 0) + at(1, 1)
        p, vp = up - down, up + down
    elif orientation == "v":
        left = at(-1, -1) + at(0, -1) + at(1, -1)
        right = at(-1, 1) + at(0, 1) + at(1, 1)
        p, vp = left - right, left + right
    else:
        pos = at(-1, -1) + at(1, 1)
        neg = at(-1, 1) + at(1, -1)
        p, vp = pos - neg, pos + neg
    ring = (
        at(-1, -1) + at(-1, 0) + at(-1, 1) + at(0, -1) + at(0, 1) + at(1, -1) + at(1, 0) + at(1, 1)
    )
    return p, vp, ring


@dataclass
class Opts:
    T: float = np.sqrt(12.0)
    Tp: float = 1.0
    smooth_var: bool = True
    linear_p: bool = True
    extra_T: float | None = None
    eps: float = 0.5


def _basis(d, s, p, vp, ring, o: Opts):
    if o.smooth_var:
        v = np.maximum((s + ring) / 9.0, o.eps)
    else:
        v = np.maximum(s, o.eps)
    g = np.exp(-(p * p) / (o.Tp**2 * np.maximum(vp, o.eps)))
    e = np.exp(-(d * d) / (o.T**2 * v))
    funcs = [d * g, d * (1 - g), d * e * g, d * e * (1 - g)]
    if o.extra_T is not None:
        e2 = np.exp(-(d * d) / (o.extra_T**2 * v))
        funcs += [d * e2 * g, d * e2 * (1 - g)]
    if o.linear_p:
        funcs += [p * g, p * (1 - g)]
    return np.stack([f.ravel() for f in funcs])


def fit_subband(d, s, orientation, o: Opts, coefficients=None):
    p, vp, ring = _neighbours(s, orientation)
    F = _basis(d, s, p, vp, ring, o)
    Fm = _basis(d - 1, s - 1, p, vp, ring, o)
    Fp = _basis(d + 1, s - 1, p, vp, ring, o)
    yp = ((s + d) / 2).ravel()
    ym = ((s - d) / 2).ravel()
    M = F @ F.T
    c = Fm @ yp - Fp @ ym
    if coefficients is None:
        K = M.shape[0]
        tr = np.trace(M)
        if tr <= 0:
            a = np.zeros(K)
        else:
            a = np.linalg.solve(M + 1e-8 * tr / K * np.eye(K), c)
    else:
        a = np.asarray(coefficients, float)
    est = (a @ F).reshape(d.shape)
    risk = float(a @ M @ a - 2 * a @ c)
    return a, est, risk


def _denoise_once(x, levels, o):
    details, s_coarse = haar_decompose(x, levels)
    scal = []
    s = x
    for _ in range(levels):
        s = s[0::2, 0::2] + s[0::2, 1::2] + s[1::2, 0::2] + s[1::2, 1::2]
        scal.append(s)
    out = []
    for (h, v, g), s in zip(details, scal, strict=True):
        out.append(
            tuple(
                fit_subband(dd, s, ori, o)[1]
                for dd, ori in zip((h, v, g), ORIENTATIONS, strict=True)
            )
        )
    return haar_reconstruct(out, s_coarse)


def _shifts(n, B):
    step = max(1, B // n) | 1
    g = max(1, round(n / 1.618))
    while np.gcd(g, n) != 1:
        g += 1
    return [((k * step) % B, (((g * k) % n) * step) % B) for k in range(n)]


def pure_let(counts, levels=None, cycle_spins=4, o: Opts | None = None):
    o = o or Opts()
    y = np.asarray(counts, dtype=np.float64)
    if levels is None:
        levels = int(np.clip(np.floor(np.log2(min(y.shape))) - 1, 1, 5))
    B = 2**levels
    acc = np.zeros_like(y)
    shifts = _shifts(cycle_spins, B)
    for dy, dx in shifts:
        ny = -(-(y.shape[0] + dy) // B) * B
        nx = -(-(y.shape[1] + dx) // B) * B
        xp = np.pad(y, ((dy, ny - y.shape[0] - dy), (dx, nx - y.shape[1] - dx)), mode="symmetric")
        est = _denoise_once(xp, levels, o)
        acc += est[dy : dy + y.shape[0], dx : dx + y.shape[1]]
    return np.maximum(acc / len(shifts), 0)

"""Perceptual losses: content (feature MSE), style (Gram MSE), total variation, temporal."""
from __future__ import annotations

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """N,C,H,W -> N,C,C Gram matrix normalised by C*H*W (Johnson et al.)."""
    n, c, h, w = features.shape
    # in fp32 even under autocast (which would run the matmul in bf16/fp16): a Gram sums
    # h*w products, and the style loss is a small difference of such sums
    with torch.autocast(features.device.type, enabled=False):
        f = features.reshape(n, c, h * w).float()
        return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((out.float() - target.float()) ** 2)


def style_loss(out_features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Target Gram is 1,C,C (one style image) or N,C,C; broadcast over the batch."""
    return torch.mean((gram(out_features) - target_gram) ** 2)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (sum of squared neighbour differences per image)."""
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    return (dx.float().pow(2).sum() + dy.float().pow(2).sum()) / image.shape[0]


def random_affine_grid(n: int, height: int, width: int, generator: torch.Generator,
                       max_shift: float = 0.04, max_rotate: float = 0.03, max_zoom: float = 0.03,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """Sampling grids for a small random similarity warp per image (fake camera motion)."""
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * 2  # grid units are [-1, 1]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * max_rotate
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * max_zoom
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    return torch.nn.functional.affine_grid(theta.to(device), [n, 3, height, width], align_corners=False)


def random_local_motion(n: int, height: int, width: int, generator: torch.Generator, amplitude: float,
                        cells: int = 4, device: torch.device | str = "cpu") -> torch.Tensor:
    """Grid offsets (N,H,W,2, grid units) for smooth motion that differs across the picture, as
    leaves, water and bodies move while the camera stands: a random displacement (std
    `amplitude` px) on a (cells+1)^2 lattice, interpolated bicubically to every pixel."""
    lattice = torch.randn(n, 2, cells + 1, cells + 1, generator=generator) * amplitude
    px = torch.nn.functional.interpolate(lattice, size=(height, width), mode="bicubic", align_corners=True)
    to_grid = torch.tensor([2 / width, 2 / height]).view(1, 2, 1, 1)  # grid units span 2 per side
    return (px * to_grid).permute(0, 2, 3, 1).to(device)


def warp(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.grid_sample(image, grid.to(image.dtype), mode="bilinear",
                                           padding_mode="border", align_corners=False)


def perturb_like_next_frame(x: torch.Tensor, generator: torch.Generator, noise: float = 4.0,
                            gain: float = 0.04) -> torch.Tensor:
    """What else changes between two video frames besides motion: sensor noise (std `noise`
    in 0..255 units) and a small exposure change (x(1 +- gain)). Feed-forward style nets
    amplify exactly these into flicker (Gupta et al. 2017), so the temporal loss sees them."""
    n = x.shape[0]
    scale = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * gain
    grain = torch.randn(x.shape, generator=generator) * noise
    return (x * scale.to(x.device) + grain.to(x.device)).clamp(0, 255)


def flatten_like_plain_surface(x: torch.Tensor, generator: torch.Generator, max_contrast: float = 0.3) -> torch.Tensor:
    """x (N,3,H,W, 0..255) as a wall, a floor or an overcast sky: its detail softened (area
    averaged over 1, 2, 4 or 8 px, then smoothly enlarged) and its contrast around its mean cut
    to 5..`max_contrast` of what it was. On such plain inputs a style net paints strokes out of
    the faintest signal, so a video's sensor and codec noise moves them from frame to frame."""
    n, _, h, w = x.shape
    cell = 2 ** int(torch.randint(0, 4, (1,), generator=generator))
    small = torch.nn.functional.adaptive_avg_pool2d(x, (max(1, h // cell), max(1, w // cell)))
    smooth = torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    contrast = 0.05 + torch.rand(n, 1, 1, 1, generator=generator) * (max_contrast - 0.05)
    mean = smooth.mean(dim=(2, 3), keepdim=True)
    return (mean + (smooth - mean) * contrast.to(x.device)).clamp(0, 255)


def codec_noise(x: torch.Tensor, quality: int) -> torch.Tensor:
    """x (N,3,H,W, 0..255) through a JPEG encoder at `quality` and back: the blocky noise of a
    compressed video, which lands differently on every frame. No gradient flows through it."""
    import cv2
    import numpy as np

    rgb = x.detach().float().clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # OpenCV's order, so luma and chroma are split right
    decoded = [cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
               for im in bgr]
    return torch.from_numpy(np.stack(decoded)[..., ::-1].copy()).permute(0, 3, 1, 2).to(x.device, x.dtype)


def temporal_loss(net_out_of_warped: torch.Tensor, warped_net_out: torch.Tensor, border: int = 8) -> torch.Tensor:
    """Equivariance loss (ReCoNet / Gao et al. style): f(warp(x)) should equal warp(f(x)).

    The border is ignored because warping drags edge pixels inward.
    """
    a = net_out_of_warped[:, :, border:-border, border:-border].float()
    b = warped_net_out[:, :, border:-border, border:-border].float()
    return torch.mean((a - b) ** 2)

"""Seal pictures: a round red official-seal image (PNG) drawn with Pillow."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RED = (220, 20, 30, 255)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """Path of an installed CJK font (fontconfig), or None when none is installed."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [fc_list, ":lang=zh", "-f", "%{file}\n"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})
    # Prefer a regular weight; any CJK-capable face is better than none.
    regular = [f for f in files if "Regular" in f or "regular" in f]
    choices = regular or files
    return choices[0] if choices else None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)


def render_seal_png(name: str, *, center_text: str = "", size_px: int = 400) -> bytes:
    """A round seal: red ring, five-pointed star, `name` along the upper arc, `center_text` below the star."""
    out = io.BytesIO()
    draw_seal(name, center_text=center_text, size_px=size_px).save(out, "PNG")
    return out.getvalue()


def draw_seal(name: str, *, center_text: str = "", size_px: int = 400) -> Image.Image:
    """The seal of ``render_seal_png`` as an RGBA image, for a caller that encodes it its own way."""
    image = Image.new("RGBA", (size_px, size_px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = size_px / 2
    ring = size_px * 0.035
    draw.ellipse((ring, ring, size_px - ring, size_px - ring), outline=RED, width=int(ring))
    star_r = size_px * 0.14
    points = []
    for i in range(10):
        radius = star_r if i % 2 == 0 else star_r * 0.382
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((c + radius * math.cos(angle), c + radius * math.sin(angle)))
    draw.polygon(points, fill=RED)
    chars = list(name)
    if chars:
        char_size = int(size_px * 0.1)
        font = _font(char_size)
        radius = c - ring * 2 - char_size * 0.75
        span = min(math.radians(250), math.radians(22) * len(chars))
        for i, ch in enumerate(chars):
            angle = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(chars)
            glyph = Image.new("RGBA", (char_size * 2, char_size * 2), (0, 0, 0, 0))
            ImageDraw.Draw(glyph).text((char_size, char_size), ch, font=font, fill=RED, anchor="mm")
            glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
            gx, gy = c + radius * math.cos(angle), c + radius * math.sin(angle)
            image.alpha_composite(glyph, (int(gx - char_size), int(gy - char_size)))
    if center_text:
        font = _font(int(size_px * 0.08))
        draw.text((c, c + star_r * 1.9), center_text, font=font, fill=RED, anchor="mm")
    return image

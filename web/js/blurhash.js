// BlurHash (https://blurha.sh) decoding into a small canvas: the placeholder shown while a picture
// loads, when the API sends a `blurhash`.

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

function base83(text) {
  let value = 0;
  for (const c of text) {
    const digit = DIGITS.indexOf(c);
    if (digit < 0) throw new Error('not base 83');
    value = value * 83 + digit;
  }
  return value;
}

const toLinear = (v) => {
  const x = v / 255;
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
};
const toSrgb = (v) => {
  const x = Math.max(0, Math.min(1, v));
  return Math.round((x <= 0.0031308 ? x * 12.92 : 1.055 * x ** (1 / 2.4) - 0.055) * 255);
};
const signedSquare = (v) => Math.sign(v) * v * v;

/** A 32×32 canvas painted from `hash`, or null if it is not a BlurHash. */
export function blurhashCanvas(hash, size = 32) {
  try {
    if (typeof hash !== 'string' || hash.length < 6) return null;
    const sizes = base83(hash[0]);
    const nx = (sizes % 9) + 1;
    const ny = Math.floor(sizes / 9) + 1;
    if (hash.length !== 4 + 2 * nx * ny) return null;
    const max = (base83(hash[1]) + 1) / 166;
    const dc = base83(hash.slice(2, 6));
    const colors = [[toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]];
    for (let i = 1; i < nx * ny; i++) {
      const v = base83(hash.slice(4 + i * 2, 6 + i * 2));
      colors.push([Math.floor(v / 361), Math.floor(v / 19) % 19, v % 19].map((q) => signedSquare((q - 9) / 9) * max));
    }
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const context = canvas.getContext('2d');
    if (!context) return null;
    const image = context.createImageData(size, size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const rgb = [0, 0, 0];
        for (let j = 0; j < ny; j++) {
          for (let i = 0; i < nx; i++) {
            const basis = Math.cos((Math.PI * x * i) / size) * Math.cos((Math.PI * y * j) / size);
            const c = colors[i + j * nx];
            rgb[0] += c[0] * basis;
            rgb[1] += c[1] * basis;
            rgb[2] += c[2] * basis;
          }
        }
        const at = 4 * (x + y * size);
        image.data[at] = toSrgb(rgb[0]);
        image.data[at + 1] = toSrgb(rgb[1]);
        image.data[at + 2] = toSrgb(rgb[2]);
        image.data[at + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    canvas.className = 'placeholder';
    canvas.setAttribute('aria-hidden', 'true');
    return canvas;
  } catch {
    return null;
  }
}

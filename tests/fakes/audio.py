"""Short, audible recordings for the fake provider APIs, made with the standard library.

"Try it locally" plays what the fake served in the console's player, so the fake
serves a real tone rather than random bytes: a WAV written by :mod:`wave`, and an
MP3 (MPEG-1 Layer III) put together frame by frame here, so the fake needs no
encoder and runs on a bare ``python3``. Each MP3 granule holds one non-zero
spectral line, which a decoder turns into a steady tone; that is the whole
"encoder", and all a newcomer needs to hear that the archive holds sound.
"""

from __future__ import annotations

import io
import math
import struct
import wave

TONE_HZ = 736  # an MP3 line centre, below: (26 + 0.5) * 32000 / 1152
WAV_RATE = 8000  # what Twilio records at
MP3_RATE = 32000
MP3_FRAME_BYTES = 144  # 32 kbit/s at 32 kHz: 144 * bitrate / rate, no padding
MP3_SAMPLES_PER_FRAME = 1152
# MPEG-1, Layer III, no CRC; 32 kbit/s (index 1), 32 kHz (index 2), no padding;
# mono, no mode extension, not copyrighted, original, no emphasis.
MP3_HEADER = bytes([0xFF, 0xFB, 0x18, 0xC4])
_LINE = 26  # sub-band 1, line 8: untouched by the decoder's alias-reduction butterflies
# A sine at the line's centre advances a quarter turn per granule, so its
# coefficients go +, -, -, + (at a phase of 45 degrees): the decoder's
# overlap-add then joins the granules into one tone instead of a buzz.
_SIGNS = (0, 1, 1, 0)
_GAIN = 198  # 2 ** ((198 - 210) / 4): about -18 dB below full scale


def wav_tone(seconds: float = 3.0, hz: float = TONE_HZ, rate: int = WAV_RATE) -> bytes:
    """A mono 16-bit PCM WAV of a sine, faded in and out (no clicks)."""
    count = int(seconds * rate)
    fade = max(1, rate // 50)
    samples = bytearray()
    for n in range(count):
        envelope = min(1.0, n / fade, (count - 1 - n) / fade)
        value = 0.3 * envelope * math.sin(2 * math.pi * hz * n / rate)
        samples += struct.pack("<h", round(value * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(samples))
    return out.getvalue()


class _Bits:
    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def put(self, value: int, width: int) -> None:
        self.value = (self.value << width) | (value & ((1 << width) - 1))
        self.length += width

    def to_bytes(self, size: int) -> bytes:
        assert self.length <= size * 8, (self.length, size)
        return (self.value << (size * 8 - self.length)).to_bytes(size, "big")


def _tone_line(granule: int) -> _Bits:
    """One granule's Huffman-coded spectrum: table 1 codes a pair (0, 0) as ``1``,
    (1, 0) as ``01`` and (0, 1) as ``001``, each 1 followed by its sign; every line
    after the last pair coded is zero."""
    bits = _Bits()
    for _ in range(_LINE // 2):
        bits.put(0b1, 1)
    if _LINE % 2 == 0:
        bits.put(0b01, 2)
    else:
        bits.put(0b001, 3)
    bits.put(_SIGNS[granule % len(_SIGNS)], 1)
    return bits


def mp3_tone(seconds: float = 3.0) -> bytes:
    """A mono MP3 (32 kHz, 32 kbit/s, constant bit rate) of a steady ~736 Hz tone."""
    frames = max(1, round(seconds * MP3_RATE / MP3_SAMPLES_PER_FRAME))
    out = bytearray()
    for frame in range(frames):
        side = _Bits()
        side.put(0, 9)  # main_data_begin: no bit reservoir, each frame stands alone
        side.put(0, 5)  # private bits
        side.put(0, 4)  # scfsi
        main = _Bits()
        for granule in (2 * frame, 2 * frame + 1):
            spectrum = _tone_line(granule)
            side.put(spectrum.length, 12)  # part2_3_length (no scale factors: slen 0)
            side.put(_LINE // 2 + 1, 9)  # big_values: pairs up to the tone's line
            side.put(_GAIN, 8)  # global_gain
            side.put(0, 4)  # scalefac_compress: slen1 = slen2 = 0
            side.put(0, 1)  # window_switching_flag: long blocks
            for _ in range(3):
                side.put(1, 5)  # table_select: Huffman table 1 in every region
            side.put(7, 4)  # region0_count
            side.put(7, 3)  # region1_count
            side.put(0, 1)  # preflag
            side.put(0, 1)  # scalefac_scale
            side.put(0, 1)  # count1table_select
            main.put(spectrum.value, spectrum.length)
        body = MP3_FRAME_BYTES - len(MP3_HEADER) - 17
        out += MP3_HEADER + side.to_bytes(17) + main.to_bytes(body)
    return bytes(out)

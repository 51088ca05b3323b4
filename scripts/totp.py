"""Prints the current RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret: python3 scripts/totp.py SECRET"""
import base64
import hashlib
import hmac
import struct
import sys
import time

secret = base64.b32decode(sys.argv[1].upper() + "=" * (-len(sys.argv[1]) % 8))
digest = hmac.new(secret, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = digest[-1] & 0x0F
code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
print(f"{code:06d}")

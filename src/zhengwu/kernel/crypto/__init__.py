"""SM2, SM3 and SM4 for the platform (GB/T 32918, 32905, 32907) behind one small interface.

Public surface (see docs/adr/0006-sm2-backend.md for the SM2 backend choice):

* hashes: ``sm3``, ``new_sm3``, ``hmac_sm3``, ``hmac_sm3_verify``;
* SM4: ``sm4_{ecb,cbc}_{encrypt,decrypt}``, ``sm4_ctr_{encrypt,decrypt}``, ``sm4_gcm_{encrypt,decrypt}``,
  ``SM4BlockCipher``;
* SM2: ``SM2PrivateKey``, ``SM2PublicKey``, ``Signer``/``DigestSigner``/``SoftwareSigner``,
  ``DEFAULT_SM2_UID``, signature conversions ``sm2_sig_der_to_raw``/``sm2_sig_raw_to_der``, ciphertext
  conversions ``sm2_ciphertext_to_raw``/``sm2_ciphertext_from_raw``, backend selection
  ``available_backends``/``set_default_backend``;
* errors: ``CryptoError`` (a ``ValueError``).
"""

from __future__ import annotations

from zhengwu.kernel.crypto.backends import available_backends, get_backend, set_default_backend
from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext, sm2_ciphertext_from_raw, sm2_ciphertext_to_raw
from zhengwu.kernel.crypto.curve import DEFAULT_SM2_UID, SM2_CURVE_OID
from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.hashes import hmac_sm3, hmac_sm3_verify, new_sm3, sm3
from zhengwu.kernel.crypto.signature import sm2_sig_der_to_raw, sm2_sig_raw_to_der
from zhengwu.kernel.crypto.signer import DigestSigner, Signer, SoftwareSigner
from zhengwu.kernel.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from zhengwu.kernel.crypto.sm4 import (
    SM4BlockCipher,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_ctr_decrypt,
    sm4_ctr_encrypt,
    sm4_ecb_decrypt,
    sm4_ecb_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

__all__ = [
    "DEFAULT_SM2_UID",
    "SM2_CURVE_OID",
    "CryptoError",
    "DigestSigner",
    "SM2Ciphertext",
    "SM2PrivateKey",
    "SM2PublicKey",
    "SM4BlockCipher",
    "Signer",
    "SoftwareSigner",
    "available_backends",
    "get_backend",
    "hmac_sm3",
    "hmac_sm3_verify",
    "new_sm3",
    "set_default_backend",
    "sm2_ciphertext_from_raw",
    "sm2_ciphertext_to_raw",
    "sm2_sig_der_to_raw",
    "sm2_sig_raw_to_der",
    "sm3",
    "sm4_cbc_decrypt",
    "sm4_cbc_encrypt",
    "sm4_ctr_decrypt",
    "sm4_ctr_encrypt",
    "sm4_ecb_decrypt",
    "sm4_ecb_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]

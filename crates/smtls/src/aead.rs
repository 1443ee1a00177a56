//! SM4-GCM record protection for TLS 1.3 (RFC 8998 §3.1: 16-byte key, 12-byte nonce,
//! 16-byte tag), following the generic TLS 1.3 record construction of RFC 8446 §5.2:
//! the per-record nonce is the traffic IV XOR the sequence number, the additional data is
//! the record header, and the true content type is appended to the plaintext.
//!
//! Each direction of a connection expands its traffic key once into an [`Sm4GcmKey`]
//! (SM4 round keys and the GHASH key) and reuses it for every record; records are
//! encrypted in rustls's outgoing buffer and decrypted where they were received.

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, MessageDecrypter, MessageEncrypter,
    Nonce, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload, Tls13AeadAlgorithm,
    UnsupportedOperationError, make_tls13_aad,
};
use rustls::{ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion};

use netsettle_smcrypto::{GCM_TAG_BYTES, SM4_KEY_BYTES, Sm4GcmKey, Sm4Key};

/// Length of the inner content-type byte TLS 1.3 appends to every record's plaintext.
const CONTENT_TYPE_BYTES: usize = 1;

/// The SM4-GCM AEAD of `TLS_SM4_GCM_SM3`.
pub(crate) struct Sm4Gcm;

pub(crate) static SM4_GCM: Sm4Gcm = Sm4Gcm;

impl Tls13AeadAlgorithm for Sm4Gcm {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        match record_key(&key) {
            Some(key) => Box::new(Sm4GcmEncrypter { key, iv }),
            None => Box::new(FailedKey),
        }
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        match record_key(&key) {
            Some(key) => Box::new(Sm4GcmDecrypter { key, iv }),
            None => Box::new(FailedKey),
        }
    }

    fn key_len(&self) -> usize {
        SM4_KEY_BYTES
    }

    /// Traffic-secret export serves kernel TLS offload, and rustls's export enum has no
    /// SM4 variant; the kernel has no SM4-GCM TLS either.
    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

/// rustls derives exactly `key_len()` bytes, so the conversion only fails if rustls broke
/// its own contract; then every record fails instead of the process panicking.
fn record_key(key: &AeadKey) -> Option<Sm4GcmKey> {
    Sm4Key::from_slice(key.as_ref())
        .ok()
        .map(|key| Sm4GcmKey::new(&key))
}

struct Sm4GcmEncrypter {
    key: Sm4GcmKey,
    iv: Iv,
}

impl MessageEncrypter for Sm4GcmEncrypter {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let total_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(total_len);
        payload.extend_from_chunks(&msg.payload);
        payload.extend_from_slice(&[u8::from(msg.typ)]);

        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls13_aad(total_len);
        let tag = self
            .key
            .seal_in_place_detached(&nonce, &aad, payload.as_mut())
            .map_err(|_| Error::EncryptError)?;
        payload.extend_from_slice(&tag);
        if payload.as_ref().len() != total_len {
            return Err(Error::EncryptError);
        }
        // All TLS 1.3 protected records carry the legacy TLS 1.2 version and the
        // application-data type on the wire (RFC 8446 §5.2).
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len
            .saturating_add(CONTENT_TYPE_BYTES)
            .saturating_add(GCM_TAG_BYTES)
    }
}

struct Sm4GcmDecrypter {
    key: Sm4GcmKey,
    iv: Iv,
}

impl MessageDecrypter for Sm4GcmDecrypter {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        let Some(body_len) = payload.len().checked_sub(GCM_TAG_BYTES) else {
            return Err(Error::DecryptError);
        };
        let nonce = Nonce::new(&self.iv, seq).0;
        let aad = make_tls13_aad(payload.len());
        let (body, tag) = payload.split_at_mut(body_len);
        let tag: &[u8; GCM_TAG_BYTES] = (&*tag).try_into().map_err(|_| Error::DecryptError)?;
        self.key
            .open_in_place_detached(&nonce, &aad, body, tag)
            .map_err(|_| Error::DecryptError)?;
        payload.truncate(body_len);
        // Strips the zero padding and recovers the inner content type.
        msg.into_tls13_unpadded_message()
    }
}

/// Stands in for a record key that could not be built (see [`record_key`]): refuses every
/// record, so a broken key schedule ends the connection with an error.
struct FailedKey;

impl MessageEncrypter for FailedKey {
    fn encrypt(
        &mut self,
        _msg: OutboundPlainMessage<'_>,
        _seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        Err(Error::EncryptError)
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len
    }
}

impl MessageDecrypter for FailedKey {
    fn decrypt<'a>(
        &mut self,
        _msg: InboundOpaqueMessage<'a>,
        _seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        Err(Error::DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use rustls::crypto::cipher::OutboundChunks;
    use rustls::crypto::tls13::Hkdf as _;

    use netsettle_smcrypto::gcm_seal;

    use super::*;

    /// Record keys the way rustls's key schedule makes them (HKDF-Expand-Label over
    /// HKDF-SM3 from a traffic secret), so the AEAD sees exactly the 16-byte keys and
    /// 12-byte IVs of a real connection.
    fn key_and_iv(key_byte: u8) -> (AeadKey, Iv) {
        let expander = crate::suite::HKDF_SM3.extract_from_secret(None, &[key_byte; 32]);
        (
            rustls::internal::derive_traffic_key(expander.as_ref(), &SM4_GCM),
            rustls::internal::derive_traffic_iv(expander.as_ref()),
        )
    }

    fn seal(key_byte: u8, typ: ContentType, payload: &[u8], seq: u64) -> Vec<u8> {
        let (key, iv) = key_and_iv(key_byte);
        let mut enc = SM4_GCM.encrypter(key, iv);
        let chunks = [payload];
        let msg = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_3,
            payload: OutboundChunks::new(&chunks),
        };
        let opaque = enc.encrypt(msg, seq).unwrap();
        // `encode` prepends the 5-byte record header; the AEAD output follows it.
        opaque.encode()[5..].to_vec()
    }

    fn open(key_byte: u8, sealed: &mut [u8], seq: u64) -> Result<(ContentType, Vec<u8>), Error> {
        let (key, iv) = key_and_iv(key_byte);
        let mut dec = SM4_GCM.decrypter(key, iv);
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            sealed,
        );
        let plain = dec.decrypt(msg, seq)?;
        Ok((plain.typ, plain.payload.to_vec()))
    }

    #[test]
    fn round_trip_keeps_type_and_bytes() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut sealed = seal(7, ContentType::Handshake, &payload, 3);
        assert_eq!(sealed.len(), payload.len() + 1 + GCM_TAG_BYTES);
        assert_eq!(
            open(7, &mut sealed, 3).unwrap(),
            (ContentType::Handshake, payload)
        );
    }

    #[test]
    fn matches_direct_sm4_gcm_with_tls13_nonce_and_aad() {
        // Independent composition: nonce = IV xor seq (big-endian, right-aligned), AAD =
        // 0x17 0x03 0x03 ‖ length, plaintext = data ‖ content type.
        let seq = 0x0102_0304_0506u64;
        let sealed = seal(5, ContentType::ApplicationData, b"settle", seq);
        let (key, iv) = key_and_iv(5);
        assert_eq!(key.as_ref().len(), SM4_KEY_BYTES);
        let mut nonce: [u8; 12] = iv.as_ref().try_into().unwrap();
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let aad = [0x17, 0x03, 0x03, 0x00, 6 + 1 + 16];
        let key = Sm4Key::from_slice(key.as_ref()).unwrap();
        assert_eq!(sealed, gcm_seal(&key, &nonce, &aad, b"settle\x17"));
    }

    #[test]
    fn rejects_wrong_sequence_key_or_tampering() {
        let sealed = seal(7, ContentType::ApplicationData, b"net amount 42", 0);
        assert_eq!(open(7, &mut sealed.clone(), 1), Err(Error::DecryptError));
        assert_eq!(open(8, &mut sealed.clone(), 0), Err(Error::DecryptError));
        for idx in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[idx] ^= 0x80;
            assert_eq!(open(7, &mut bad, 0), Err(Error::DecryptError), "byte {idx}");
        }
        assert_eq!(
            open(7, &mut sealed[..GCM_TAG_BYTES - 1].to_vec(), 0),
            Err(Error::DecryptError)
        );
    }
}

// CHAP for iSCSI (RFC 7143 12.1.3, RFC 1994) with MD5 (CHAP_A=5): the response is
// MD5(CHAP_I as one byte || secret || challenge bytes).
//
// Binary values travel as "0x<hex>" or "0b<base64>" (RFC 7143 6.1); we send hex and accept
// both. MD5 comes from OpenSSL (EVP, libcrypto) — no hand-written crypto here.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stmf::iscsi {

inline constexpr uint8_t kChapAlgorithmMd5 = 5;

using Md5Digest = std::array<uint8_t, 16>;

// nullopt when libcrypto cannot compute MD5 (out of memory, or a FIPS-only provider set):
// the login then fails, it never compares against a made-up digest.
std::optional<Md5Digest> md5(std::span<const uint8_t> data);
std::optional<Md5Digest> chap_md5_response(uint8_t id, std::string_view secret, std::span<const uint8_t> challenge);

// "0x" + lowercase hex.
std::string encode_hex(std::span<const uint8_t> bytes);
// Decodes "0x..."/"0X..." (hex, even or odd digit count) or "0b..."/"0B..." (base64 with
// optional '=' padding). nullopt on anything else, or an empty result.
std::optional<std::vector<uint8_t>> decode_binary(std::string_view s);

// Constant-time comparison for secrets-derived values.
bool equal_ct(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace stmf::iscsi

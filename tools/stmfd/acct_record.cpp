#include "tools/stmfd/acct_record.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "common/byte_order.h"
#include "mgmt/config.h"  // parse_hex / to_hex
#include "mgmt/json_limits.h"

namespace stmfd::acct {

namespace {

using stmf::stats::ErrorClass;

// Byte offsets of format 1 (docs/array-sessions.md has the same table).
enum Offset : size_t {
  kOffMagic = 0,
  kOffVersion = 4,
  kOffFlags = 5,
  kOffLength = 6,
  kOffAsh = 8,
  kOffStart = 16,
  kOffEnd = 24,
  kOffSpiLen = 32,
  kOffNode = 34,
  kOffReserved = 36,
  kOffSpi = 40,
  kOffCounters = 104,  // kCounterCount u64
  kOffInitiator = 184,
  kOffTarget = 408,
};

// The counters in record order: one table for both encodings.
struct CounterField {
  const char* name;
  uint64_t stmf::stats::Snapshot::*plain;  // nullptr: an error class
  ErrorClass error;
};
constexpr CounterField kCounters[] = {
    {"commands", &stmf::stats::Snapshot::commands, {}},
    {"reads", &stmf::stats::Snapshot::reads, {}},
    {"writes", &stmf::stats::Snapshot::writes, {}},
    {"bytes_read", &stmf::stats::Snapshot::bytes_read, {}},
    {"bytes_written", &stmf::stats::Snapshot::bytes_written, {}},
    {"check_conditions", nullptr, ErrorClass::check_condition},
    {"reservation_conflicts", nullptr, ErrorClass::reservation_conflict},
    {"busy", nullptr, ErrorClass::busy},
    {"aborted", nullptr, ErrorClass::aborted},
    {"latency_us_sum", &stmf::stats::Snapshot::latency_us_sum, {}},
};
constexpr size_t kCounterCount = std::size(kCounters);
static_assert(kOffCounters + 8 * kCounterCount == kOffInitiator);
static_assert(kOffTarget + kBinaryNameSize == kBinaryRecordSize);

uint64_t& counter(stmf::stats::Snapshot& s, const CounterField& f) {
  return f.plain ? s.*(f.plain) : s.errors[size_t(f.error)];
}
uint64_t counter(const stmf::stats::Snapshot& s, const CounterField& f) {
  return f.plain ? s.*(f.plain) : s.errors[size_t(f.error)];
}

void put_name(uint8_t* p, const std::string& s) { std::memcpy(p, s.data(), std::min(s.size(), kBinaryNameSize - 1)); }
std::string get_name(const uint8_t* p) {
  const auto* end = std::find(p, p + kBinaryNameSize, uint8_t(0));
  return std::string(p, end);
}

// Flag bits and their names in format 2.
struct FlagName {
  uint8_t bit;
  const char* name;
};
constexpr FlagName kFlagNames[] = {
    {kFlagCheckpoint, "checkpoint"}, {kFlagSecondary, "secondary"}, {kFlagFlushed, "flushed"}, {kFlagAbnormal, "abnormal"}};

std::optional<Record> decode_binary(const uint8_t* p) {
  if (std::memcmp(p + kOffMagic, kBinaryMagic, 4) != 0 || p[kOffVersion] != kRecordVersion ||
      stmf::get_be16(p + kOffLength) != kBinaryRecordSize)
    return std::nullopt;
  Record r;
  r.flags = p[kOffFlags];
  r.ash = int64_t(stmf::get_be64(p + kOffAsh));
  r.start_ns = int64_t(stmf::get_be64(p + kOffStart));
  r.end_ns = int64_t(stmf::get_be64(p + kOffEnd));
  const size_t spilen = stmf::get_be16(p + kOffSpiLen);
  r.node = stmf::get_be16(p + kOffNode);
  r.spi.assign(p + kOffSpi, p + kOffSpi + std::min(spilen, kBinarySpiSize));
  r.spi.resize(spilen, 0);  // format 1 keeps 64 bytes; the rest reads as zeroes
  for (size_t i = 0; i < kCounterCount; ++i) counter(r.counters, kCounters[i]) = stmf::get_be64(p + kOffCounters + 8 * i);
  r.initiator = get_name(p + kOffInitiator);
  r.target = get_name(p + kOffTarget);
  return r;
}

}  // namespace

bool operator==(const Record& a, const Record& b) {
  for (auto& c : kCounters)
    if (counter(a.counters, c) != counter(b.counters, c)) return false;
  return a.flags == b.flags && a.ash == b.ash && a.start_ns == b.start_ns && a.end_ns == b.end_ns && a.spi == b.spi &&
         a.node == b.node && a.initiator == b.initiator && a.target == b.target && a.portal == b.portal &&
         a.reason == b.reason;
}

std::vector<uint8_t> encode_binary(const Record& r) {
  std::vector<uint8_t> b(kBinaryRecordSize, 0);
  uint8_t* p = b.data();
  std::memcpy(p + kOffMagic, kBinaryMagic, 4);
  p[kOffVersion] = kRecordVersion;
  p[kOffFlags] = r.flags;
  stmf::put_be16(p + kOffLength, uint16_t(kBinaryRecordSize));
  stmf::put_be64(p + kOffAsh, uint64_t(r.ash));
  stmf::put_be64(p + kOffStart, uint64_t(r.start_ns));
  stmf::put_be64(p + kOffEnd, uint64_t(r.end_ns));
  stmf::put_be16(p + kOffSpiLen, uint16_t(r.spi.size()));
  stmf::put_be16(p + kOffNode, r.node);
  std::memcpy(p + kOffSpi, r.spi.data(), std::min(r.spi.size(), kBinarySpiSize));  // exactly 64: pad / truncate
  for (size_t i = 0; i < kCounterCount; ++i) stmf::put_be64(p + kOffCounters + 8 * i, counter(r.counters, kCounters[i]));
  put_name(p + kOffInitiator, r.initiator);
  put_name(p + kOffTarget, r.target);
  return b;
}

nlohmann::json to_json(const Record& r) {
  char ash[19];
  std::snprintf(ash, sizeof ash, "0x%016llx", (unsigned long long)r.ash);
  nlohmann::json j = {{"v", kRecordVersion}, {"ash", ash}, {"start_ns", r.start_ns}, {"end_ns", r.end_ns},
                      {"spi", stmf::mgmt::to_hex(r.spi)}, {"initiator", r.initiator}, {"target", r.target},
                      {"node", r.node == kNoNode ? nlohmann::json(nullptr) : nlohmann::json(r.node)}};
  auto flags = nlohmann::json::array();
  for (auto& f : kFlagNames)
    if (r.flags & f.bit) flags.push_back(f.name);
  j["flags"] = flags;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (!r.portal.empty()) j["portal"] = r.portal;
  for (auto& c : kCounters) j[c.name] = counter(r.counters, c);
  return j;
}

std::optional<Record> from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object() || j.value("v", 0) != kRecordVersion) return std::nullopt;
    Record r;
    const std::string ash = j.at("ash").get<std::string>();
    r.ash = int64_t(std::stoull(ash, nullptr, 16));
    r.start_ns = j.at("start_ns").get<int64_t>();
    r.end_ns = j.at("end_ns").get<int64_t>();
    auto spi = stmf::mgmt::parse_hex(j.at("spi").get<std::string>());
    if (!spi) return std::nullopt;
    r.spi = *spi;
    r.initiator = j.at("initiator").get<std::string>();
    r.target = j.at("target").get<std::string>();
    r.node = j.at("node").is_null() ? kNoNode : j.at("node").get<uint16_t>();
    for (auto& f : j.at("flags"))
      for (auto& n : kFlagNames)
        if (f == n.name) r.flags |= n.bit;
    r.reason = j.value("reason", "");
    r.portal = j.value("portal", "");
    for (auto& c : kCounters) counter(r.counters, c) = j.at(c.name).get<uint64_t>();
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode_json_line(const Record& r) { return to_json(r).dump() + "\n"; }

std::vector<Record> read_records(std::string_view data, size_t& bad_tail) {
  std::vector<Record> out;
  size_t pos = 0;
  bad_tail = 0;
  while (pos < data.size()) {
    std::optional<Record> r;
    size_t next = pos;
    if (data[pos] == '{') {
      const size_t nl = data.find('\n', pos);
      if (nl != std::string_view::npos) {
        auto j = stmf::mgmt::parse_json_limited(std::string(data.substr(pos, nl - pos)));
        if (!j.is_discarded()) r = from_json(j);
        next = nl + 1;
      }
    } else if (data.size() - pos >= kBinaryRecordSize) {
      r = decode_binary(reinterpret_cast<const uint8_t*>(data.data() + pos));
      next = pos + kBinaryRecordSize;
    }
    if (!r) {
      bad_tail = data.size() - pos;
      break;
    }
    out.push_back(std::move(*r));
    pos = next;
  }
  return out;
}

}  // namespace stmfd::acct

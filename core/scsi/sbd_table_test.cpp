// The block LU's command table, recorded: every row's fields and the whole REPORT SUPPORTED
// OPERATION CODES answer (ALL_COMMANDS with RCTD). A change to a row, its order or the
// answer's bytes fails here; update the records only for a deliberate change of the table.
#include <cstdio>
#include <string>

#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"
#include "core/scsi/sbd_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;

namespace {

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// One line per row: opcode/service action, name, direction, CDB length, usage bitmap,
// reservation class, standby, with UA, row flags, timeouts, and the handler as the index of
// the first row with the same handler ("-" when the framework answers).
std::string dump_table() {
  const auto t = sbd::BlockLu::table();
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    const auto& r = t[i];
    std::string h = "-";
    if (r.handler)
      for (size_t k = 0; k <= i; ++k)
        if (t[k].handler == r.handler) {
          h = std::to_string(k);
          break;
        }
    char sa[8] = "-";
    if (r.info.has_service_action) std::snprintf(sa, sizeof sa, "%02x", r.info.service_action);
    char line[256];
    std::snprintf(line, sizeof line, "%02x/%s %s dir=%d len=%u usage=%s res=%d sb=%d ua=%d f=%u to=%u/%u h=%s\n",
                  r.info.opcode, sa,
                  r.info.name, int(r.info.direction), r.info.cdb_length,
                  hex(r.info.usage.data(), r.info.cdb_length).c_str(), int(r.info.reservation),
                  int(r.info.allowed_in_standby), int(r.info.allowed_with_ua), r.flags, r.nominal_timeout,
                  r.recommended_timeout, h.c_str());
    out += line;
  }
  return out;
}

std::vector<uint8_t> rsoc_all_rctd() {
  std::vector<uint8_t> c(12, 0);
  c[0] = scsi::op::kMaintenanceIn;
  c[1] = scsi::maintenance_in::kReportSupportedOperationCodes;
  c[2] = 0x80;  // RCTD, REPORTING OPTIONS 000b
  scsi::put_be32(&c[6], 65535);
  return c;
}

const char* const kTable = R"(00/- TEST UNIT READY dir=0 len=6 usage=000000000004 res=0 sb=0 ua=0 f=1 to=0/5 h=0
03/- REQUEST SENSE dir=1 len=6 usage=03010000ff04 res=0 sb=1 ua=1 f=8 to=0/5 h=-
08/- READ(6) dir=1 len=6 usage=081fffffff04 res=1 sb=0 ua=0 f=1 to=1/30 h=2
0a/- WRITE(6) dir=2 len=6 usage=0a1fffffff04 res=2 sb=0 ua=0 f=3 to=1/30 h=3
12/- INQUIRY dir=1 len=6 usage=1201ffffff04 res=0 sb=1 ua=1 f=8 to=0/5 h=4
15/- MODE SELECT(6) dir=2 len=6 usage=15110000ff04 res=3 sb=1 ua=0 f=0 to=0/5 h=5
16/- RESERVE(6) dir=0 len=6 usage=160000000004 res=4 sb=0 ua=0 f=0 to=0/5 h=-
17/- RELEASE(6) dir=0 len=6 usage=170000000004 res=4 sb=0 ua=0 f=0 to=0/5 h=-
1a/- MODE SENSE(6) dir=1 len=6 usage=1a08ffffff04 res=1 sb=1 ua=0 f=0 to=0/5 h=8
1b/- START STOP UNIT dir=0 len=6 usage=1b01000ff704 res=3 sb=0 ua=0 f=0 to=0/60 h=9
1e/- PREVENT ALLOW MEDIUM REMOVAL dir=0 len=6 usage=1e0000000304 res=3 sb=0 ua=0 f=0 to=0/5 h=10
25/- READ CAPACITY(10) dir=1 len=10 usage=2500ffffffff00000104 res=0 sb=0 ua=0 f=1 to=0/5 h=11
28/- READ(10) dir=1 len=10 usage=28feffffffff3fffff04 res=1 sb=0 ua=0 f=1 to=1/30 h=2
2a/- WRITE(10) dir=2 len=10 usage=2afaffffffff3fffff04 res=2 sb=0 ua=0 f=3 to=1/30 h=3
2e/- WRITE AND VERIFY(10) dir=2 len=10 usage=2ef6ffffffff3fffff04 res=2 sb=0 ua=0 f=3 to=1/30 h=14
2f/- VERIFY(10) dir=2 len=10 usage=2ff6ffffffff3fffff04 res=1 sb=0 ua=0 f=1 to=1/30 h=15
34/- PRE-FETCH(10) dir=0 len=10 usage=3402ffffffff3fffff04 res=1 sb=0 ua=0 f=1 to=0/30 h=16
35/- SYNCHRONIZE CACHE(10) dir=0 len=10 usage=3506ffffffff3fffff04 res=2 sb=0 ua=0 f=1 to=1/60 h=17
37/- READ DEFECT DATA(10) dir=1 len=10 usage=37001f00000000ffff04 res=1 sb=0 ua=0 f=1 to=0/5 h=18
41/- WRITE SAME(10) dir=2 len=10 usage=41f8ffffffff3fffff04 res=2 sb=0 ua=0 f=3 to=1/60 h=19
42/- UNMAP dir=2 len=10 usage=4201000000003fffff04 res=2 sb=0 ua=0 f=7 to=1/60 h=20
48/01 SANITIZE dir=2 len=10 usage=48a10000000000ffff04 res=2 sb=0 ua=0 f=19 to=60/36000 h=21
48/02 SANITIZE dir=2 len=10 usage=48a20000000000ffff04 res=2 sb=0 ua=0 f=23 to=10/3600 h=21
48/1f SANITIZE dir=2 len=10 usage=48bf0000000000ffff04 res=2 sb=0 ua=0 f=19 to=0/5 h=21
55/- MODE SELECT(10) dir=2 len=10 usage=55110000000000ffff04 res=3 sb=1 ua=0 f=0 to=0/5 h=5
56/- RESERVE(10) dir=0 len=10 usage=56000000000000000004 res=4 sb=0 ua=0 f=0 to=0/5 h=-
57/- RELEASE(10) dir=0 len=10 usage=57000000000000000004 res=4 sb=0 ua=0 f=0 to=0/5 h=-
5a/- MODE SENSE(10) dir=1 len=10 usage=5a18ffff000000ffff04 res=1 sb=1 ua=0 f=0 to=0/5 h=8
5e/00 PERSISTENT RESERVE IN dir=1 len=10 usage=5e000000000000ffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5e/01 PERSISTENT RESERVE IN dir=1 len=10 usage=5e010000000000ffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5e/02 PERSISTENT RESERVE IN dir=1 len=10 usage=5e020000000000ffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5e/03 PERSISTENT RESERVE IN dir=1 len=10 usage=5e030000000000ffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/00 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f00ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/01 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f01ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/02 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f02ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/03 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f03ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/04 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f04ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/05 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f05ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/06 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f06ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
5f/07 PERSISTENT RESERVE OUT dir=2 len=10 usage=5f07ff0000ffffffff04 res=5 sb=0 ua=0 f=0 to=0/5 h=-
83/00 EXTENDED COPY dir=2 len=16 usage=83000000000000000000ffffffff0004 res=2 sb=0 ua=0 f=0 to=10/600 h=40
84/00 RECEIVE COPY RESULTS dir=1 len=16 usage=8400ff00000000000000ffffffff0004 res=1 sb=0 ua=0 f=0 to=0/5 h=41
84/03 RECEIVE COPY RESULTS dir=1 len=16 usage=84030000000000000000ffffffff0004 res=1 sb=0 ua=0 f=0 to=0/5 h=41
88/- READ(16) dir=1 len=16 usage=88feffffffffffffffffffffffff3f04 res=1 sb=0 ua=0 f=1 to=1/30 h=2
89/- COMPARE AND WRITE dir=2 len=16 usage=89faffffffffffffffff000000ff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=44
8a/- WRITE(16) dir=2 len=16 usage=8afaffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=3
8b/- ORWRITE(16) dir=2 len=16 usage=8bfaffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=46
8e/- WRITE AND VERIFY(16) dir=2 len=16 usage=8ef6ffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=14
8f/- VERIFY(16) dir=2 len=16 usage=8ff6ffffffffffffffffffffffff3f04 res=1 sb=0 ua=0 f=1 to=1/30 h=15
90/- PRE-FETCH(16) dir=0 len=16 usage=9002ffffffffffffffffffffffff3f04 res=1 sb=0 ua=0 f=1 to=0/30 h=16
91/- SYNCHRONIZE CACHE(16) dir=0 len=16 usage=9106ffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=1 to=1/60 h=17
93/- WRITE SAME(16) dir=2 len=16 usage=93f9ffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/60 h=19
9c/- WRITE ATOMIC(16) dir=2 len=16 usage=9cf8ffffffffffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=52
9e/10 READ CAPACITY(16) dir=1 len=16 usage=9e10ffffffffffffffffffffffff0104 res=0 sb=0 ua=0 f=1 to=0/5 h=53
9e/12 GET LBA STATUS dir=1 len=16 usage=9e12ffffffffffffffffffffffff0004 res=1 sb=0 ua=0 f=1 to=0/5 h=54
a0/- REPORT LUNS dir=1 len=12 usage=a000ff000000ffffffff0004 res=0 sb=1 ua=1 f=0 to=0/5 h=-
a3/0a REPORT TARGET PORT GROUPS dir=1 len=12 usage=a3ea00000000ffffffff0004 res=0 sb=1 ua=0 f=0 to=0/5 h=-
a3/0c REPORT SUPPORTED OPERATION CODES dir=1 len=12 usage=a30c87ffffffffffffff0004 res=1 sb=1 ua=0 f=8 to=0/5 h=57
a3/0d REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS dir=1 len=12 usage=a30d80000000ffffffff0004 res=1 sb=1 ua=0 f=8 to=0/5 h=58
a4/0a SET TARGET PORT GROUPS dir=2 len=12 usage=a40a00000000ffffffff0004 res=3 sb=0 ua=0 f=0 to=0/30 h=-
a8/- READ(12) dir=1 len=12 usage=a8feffffffffffffffff3f04 res=1 sb=0 ua=0 f=1 to=1/30 h=2
aa/- WRITE(12) dir=2 len=12 usage=aafaffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=3
ae/- WRITE AND VERIFY(12) dir=2 len=12 usage=aef6ffffffffffffffff3f04 res=2 sb=0 ua=0 f=3 to=1/30 h=14
af/- VERIFY(12) dir=2 len=12 usage=aff6ffffffffffffffff3f04 res=1 sb=0 ua=0 f=1 to=1/30 h=15
b7/- READ DEFECT DATA(12) dir=1 len=12 usage=b71fffffffffffffffff0004 res=1 sb=0 ua=0 f=1 to=0/5 h=18
)";
// Header (4 bytes), then one 20-byte command descriptor with its timeouts descriptor per line.
const char* const kAllCommandsRctd =
    "00000514"
    "0000000000020006000a00000000000000000005"
    "0300000000020006000a00000000000000000005"
    "0800000000020006000a0000000000010000001e"
    "0a00000000020006000a0000000000010000001e"
    "1200000000020006000a00000000000000000005"
    "1500000000020006000a00000000000000000005"
    "1600000000020006000a00000000000000000005"
    "1700000000020006000a00000000000000000005"
    "1a00000000020006000a00000000000000000005"
    "1b00000000020006000a0000000000000000003c"
    "1e00000000020006000a00000000000000000005"
    "250000000002000a000a00000000000000000005"
    "280000000002000a000a0000000000010000001e"
    "2a0000000002000a000a0000000000010000001e"
    "2e0000000002000a000a0000000000010000001e"
    "2f0000000002000a000a0000000000010000001e"
    "340000000002000a000a0000000000000000001e"
    "350000000002000a000a0000000000010000003c"
    "370000000002000a000a00000000000000000005"
    "410000000002000a000a0000000000010000003c"
    "420000000002000a000a0000000000010000003c"
    "480000010003000a000a00000000003c00008ca0"
    "480000020003000a000a00000000000a00000e10"
    "4800001f0003000a000a00000000000000000005"
    "550000000002000a000a00000000000000000005"
    "560000000002000a000a00000000000000000005"
    "570000000002000a000a00000000000000000005"
    "5a0000000002000a000a00000000000000000005"
    "5e0000000003000a000a00000000000000000005"
    "5e0000010003000a000a00000000000000000005"
    "5e0000020003000a000a00000000000000000005"
    "5e0000030003000a000a00000000000000000005"
    "5f0000000003000a000a00000000000000000005"
    "5f0000010003000a000a00000000000000000005"
    "5f0000020003000a000a00000000000000000005"
    "5f0000030003000a000a00000000000000000005"
    "5f0000040003000a000a00000000000000000005"
    "5f0000050003000a000a00000000000000000005"
    "5f0000060003000a000a00000000000000000005"
    "5f0000070003000a000a00000000000000000005"
    "8300000000030010000a00000000000a00000258"
    "8400000000030010000a00000000000000000005"
    "8400000300030010000a00000000000000000005"
    "8800000000020010000a0000000000010000001e"
    "8900000000020010000a0000000000010000001e"
    "8a00000000020010000a0000000000010000001e"
    "8b00000000020010000a0000000000010000001e"
    "8e00000000020010000a0000000000010000001e"
    "8f00000000020010000a0000000000010000001e"
    "9000000000020010000a0000000000000000001e"
    "9100000000020010000a0000000000010000003c"
    "9300000000020010000a0000000000010000003c"
    "9c00000000020010000a0000000000010000001e"
    "9e00001000030010000a00000000000000000005"
    "9e00001200030010000a00000000000000000005"
    "a00000000002000c000a00000000000000000005"
    "a300000a0003000c000a00000000000000000005"
    "a300000c0003000c000a00000000000000000005"
    "a300000d0003000c000a00000000000000000005"
    "a400000a0003000c000a0000000000000000001e"
    "a80000000002000c000a0000000000010000001e"
    "aa0000000002000c000a0000000000010000001e"
    "ae0000000002000c000a0000000000010000001e"
    "af0000000002000c000a0000000000010000001e"
    "b70000000002000c000a00000000000000000005";

}  // namespace

TEST_CASE("command table: every row as recorded", "[sbd][table]") {
  CHECK(dump_table() == kTable);
}

TEST_CASE("REPORT SUPPORTED OPERATION CODES: the whole ALL_COMMANDS answer as recorded", "[sbd][rsoc]") {
  Lu l;  // thin: UNMAP is listed
  auto t = l.run(rsoc_all_rctd());
  REQUIRE(good(t));
  CHECK(hex(t->data_in.data(), t->data_in.size()) == kAllCommandsRctd);
}

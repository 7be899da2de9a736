// Tests of what an unprivileged caller may do run that caller as a second identity, uid and
// gid 65534 (nobody/nogroup, no supplementary groups), in a child process of the test.
//
// Switching to it needs root. There is no other way for these checks: the daemon a test
// starts runs as the test's own uid and treats that uid as privileged (docs/management.md),
// so a test process that is not root has no unprivileged identity to call it with. Such a
// test fails (require_second_uid) instead of passing without having checked anything.
#pragma once
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <catch2/catch.hpp>

namespace stmf::test {

constexpr uid_t kSecondUid = 65534;
constexpr gid_t kSecondGid = 65534;

// Fails the test unless this process can switch a child to the second uid.
inline void require_second_uid() {
  if (::geteuid() != 0)
    FAIL("this test runs its client as uid " << kSecondUid
                                             << " in a child process and needs root for that; as uid " << ::geteuid()
                                             << " the daemon would treat the client as its owner (privileged)");
}

// In the child: becomes uid/gid 65534 with no supplementary groups, for good (real, effective
// and saved ids). False when any step failed or root could be regained.
inline bool become_second_uid() {
  if (::setgroups(0, nullptr) != 0 || ::setgid(kSecondGid) != 0 || ::setuid(kSecondUid) != 0) return false;
  if (::getuid() != kSecondUid || ::geteuid() != kSecondUid || ::getgid() != kSecondGid || ::getegid() != kSecondGid)
    return false;
  return ::setuid(0) != 0;  // must not work any more
}

// Runs `f` in a child process as the second uid and returns what it returned (-1 when the
// child could not switch, -2 when it returned nothing).
inline int as_second_uid(const std::function<int()>& f) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int code = -1;
    if (become_second_uid()) code = f();
    (void)!::write(fds[1], &code, sizeof code);
    ::_exit(0);
  }
  ::close(fds[1]);
  int code = -2;
  (void)!::read(fds[0], &code, sizeof code);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return code;
}

}  // namespace stmf::test

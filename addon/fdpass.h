// Passing file descriptors over unix sockets (SCM_RIGHTS): the pty master to a console socket,
// the seccomp listener fd to the runtime and on to a seccomp agent. No allocation and nothing
// but system calls and memcpy, so the child may use these after clone.
#pragma once

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace tsrunc {

constexpr size_t kMaxPassedFds = 8;

// One sendmsg of data[len] with fds[count] attached (1 <= count <= kMaxPassedFds). Returns the
// bytes sent, or -1 with errno.
inline ssize_t SendWithFds(int sock, const void* data, size_t len, const int* fds, size_t count) {
  if (count == 0 || count > kMaxPassedFds) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {const_cast<void*>(data), len};
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
  memset(control, 0, sizeof(control));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
  memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

// One recvmsg into data[cap] (flags as for recvmsg; MSG_CMSG_CLOEXEC is added). The first fd
// that came with it goes to *fd (-1 when none) and belongs to the caller; any others are closed.
// *truncated: the data or the control part did not fit. Returns the bytes received (the real
// datagram length with MSG_TRUNC), or -1 with errno.
inline ssize_t ReceiveWithFd(int sock, void* data, size_t cap, int flags, int* fd,
                             bool* truncated) {
  *fd = -1;
  *truncated = false;
  struct iovec iov = {data, cap};
  alignas(struct cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (*fd < 0) {
        *fd = received;
      } else {
        close(received);
      }
    }
  }
  *truncated = (size_t)n > cap || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  return n;
}

}  // namespace tsrunc

package healthd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// connect probes with a non-blocking socket of its own. When the connection
// is established by the time connect(2) returns, which is the rule on
// loopback and often on a LAN, the probe costs four system calls and no
// trip through the network poller; otherwise the socket is handed to the
// poller to wait, as net.Dialer would. This makes TCP_CHECK about a third
// cheaper than net.Dialer at scale.
func (t *tcpChecker) connect(ctx context.Context, deadline time.Time) error {
	family, sa := sockaddr(t.s.Target.Addr().As16(), t.s.Target.Addr().Is4(), int(t.s.Target.Port()))
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	owned := true // fd still ours to close (not handed to an os.File)
	defer func() {
		if owned {
			resetClose(fd)
		}
	}()
	if t.s.Local.IsValid() {
		if t.s.Local.Port() != 0 {
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
				return fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
			}
		}
		_, lsa := sockaddr(t.s.Local.Addr().As16(), t.s.Local.Addr().Is4(), int(t.s.Local.Port()))
		if err := syscall.Bind(fd, lsa); err != nil {
			return fmt.Errorf("bind %v: %w", t.s.Local, err)
		}
	}
	err = syscall.Connect(fd, sa)
	for err == syscall.EINTR {
		err = syscall.Connect(fd, sa)
	}
	switch err {
	case nil:
		return nil
	case syscall.EINPROGRESS:
	default:
		return fmt.Errorf("connect %s: %w", t.target, err)
	}
	if done, err := connected(fd); done || err != nil {
		return err
	}

	// Slow path: wait for writability in the network poller.
	owned = false
	f := os.NewFile(uintptr(fd), "tcp-check")
	rc, err := f.SyscallConn()
	if err != nil {
		resetClose(fd)
		return fmt.Errorf("connect %s: %w", t.target, err)
	}
	defer func() {
		_ = rc.Control(func(fd uintptr) { setLinger0(int(fd)) })
		_ = f.Close()
	}()
	_ = f.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var connErr error
	werr := rc.Write(func(fd uintptr) bool {
		done, err := connected(int(fd))
		connErr = err
		return done || err != nil
	})
	if werr != nil {
		if ctx.Err() != nil {
			werr = ctx.Err()
		} else if errors.Is(werr, os.ErrDeadlineExceeded) {
			werr = context.DeadlineExceeded
		}
		return fmt.Errorf("connect %s: %w", t.target, werr)
	}
	if connErr != nil {
		return fmt.Errorf("connect %s: %w", t.target, connErr)
	}
	return nil
}

// connected reports whether a non-blocking connect has completed, or how
// it failed.
func connected(fd int) (bool, error) {
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return false, fmt.Errorf("getsockopt SO_ERROR: %w", err)
	}
	switch e := syscall.Errno(v); e {
	case 0:
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return false, nil
	default:
		return false, e
	}
	if _, err := syscall.Getpeername(fd); err != nil {
		if errors.Is(err, syscall.ENOTCONN) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func sockaddr(ip [16]byte, is4 bool, port int) (int, syscall.Sockaddr) {
	if is4 {
		sa := &syscall.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip[12:])
		return syscall.AF_INET, sa
	}
	return syscall.AF_INET6, &syscall.SockaddrInet6{Port: port, Addr: ip}
}

func setLinger0(fd int) {
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
}

func resetClose(fd int) {
	setLinger0(fd)
	_ = syscall.Close(fd)
}

package lab

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Legacy ethtool commands, enough for the two offloads a veth lab needs.
const (
	ethtoolSetTxCsum = 0x17 // ETHTOOL_STXCSUM
	ethtoolSetGRO    = 0x2c // ETHTOOL_SGRO
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

func (n *NS) ethtool(ifname string, cmd uint32, on bool) error {
	return n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		v := ethtoolValue{cmd: cmd}
		if on {
			v.data = 1
		}
		var req ifreqData
		copy(req.name[:], ifname)
		req.data = uintptr(unsafe.Pointer(&v))
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
		if errno != 0 {
			return fmt.Errorf("%s: ethtool 0x%x on %s: %w", n.Name, cmd, ifname, errno)
		}
		return nil
	})
}

// TxChecksum switches transmit checksum offload. Lab hosts turn it off so
// that frames forwarded by XDP carry complete checksums, as frames from a
// real wire do (a veth otherwise hands over CHECKSUM_PARTIAL frames).
func (n *NS) TxChecksum(ifname string, on bool) error { return n.ethtool(ifname, ethtoolSetTxCsum, on) }

// GRO switches generic receive offload. A veth only takes XDP-redirected
// frames when GRO is on or an XDP program is attached to it.
func (n *NS) GRO(ifname string, on bool) error { return n.ethtool(ifname, ethtoolSetGRO, on) }

func parseCIDR(s string) (net.IP, *net.IPNet, error) {
	ip, ipn, err := net.ParseCIDR(s)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", s, err)
	}
	return ip, ipn, nil
}

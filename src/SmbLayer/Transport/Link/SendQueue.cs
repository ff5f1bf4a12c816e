using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SmbLayer.Transport;

/// <summary>
/// What a TCP socket's send buffer still holds: bytes written that the peer has not acknowledged (Linux SIOCOUTQ, tcp(7)).
/// Liveness subtracts them from what we wrote, so time our own bytes spend queued on a slow uplink is not taken for the
/// server's silence. Elsewhere (or if the call fails) it reads 0: every written byte then counts as delivered, which is
/// how liveness behaved before.
/// </summary>
internal static class SendQueue
{
    /// <summary>SIOCOUTQ (= TIOCOUTQ) on Linux.</summary>
    private const uint SiocOutq = 0x5411;

    /// <summary>A send buffer holding this much is backlogged: the path, not the writer, sets the pace.</summary>
    public const long BackloggedBytes = 64 * 1024;

    public static long Unacknowledged(Socket? socket)
    {
        if (socket is null || !OperatingSystem.IsLinux())
        {
            return 0;
        }
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return Ioctl((int)handle.DangerousGetHandle(), (nuint)SiocOutq, out var queued) == 0 && queued > 0 ? queued : 0;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>getsockopt level and option of struct tcp_info (Linux).</summary>
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;

    /// <summary>Where tcpi_bytes_acked (u64, Linux 4.1+) sits in struct tcp_info, and the size that holds it.</summary>
    private const int BytesAckedOffset = 120;
    private const int BytesAckedEnd = BytesAckedOffset + sizeof(ulong);

    /// <summary>
    /// How many of our bytes the peer has acknowledged since the socket connected (tcp_info.tcpi_bytes_acked, Linux), or
    /// null where that is not known. Unlike what we wrote minus SIOCOUTQ it keeps rising while a write is still blocked
    /// in the kernel: there the send buffer refills from that write as fast as it drains, so the queue looks still.
    /// </summary>
    public static long? BytesAcked(Socket? socket)
    {
        if (socket is null || !OperatingSystem.IsLinux())
        {
            return null;
        }
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            Span<byte> info = stackalloc byte[256];
            var length = info.Length;
            if (GetSockOpt((int)handle.DangerousGetHandle(), IpProtoTcp, TcpInfo, ref MemoryMarshal.GetReference(info), ref length) != 0
                || length < BytesAckedEnd)
            {
                return null;
            }
            return (long)BinaryPrimitives.ReadUInt64LittleEndian(info[BytesAckedOffset..BytesAckedEnd]);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [DllImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static extern int GetSockOpt(int fd, int level, int option, ref byte value, ref int length);

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, nuint request, out int value);
}

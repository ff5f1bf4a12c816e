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

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, nuint request, out int value);
}

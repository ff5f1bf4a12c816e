using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SmbLayer.Tests;

/// <summary>
/// Device nodes, FIFOs and sockets made inside a test's own temporary directory (never in /dev), and
/// what kind of file a path is. Shared with the integration tests (linked there).
/// </summary>
internal static class SpecialFiles
{
    private const uint TypeFifo = 0x1000, TypeCharacter = 0x2000;

    /// <summary>A character device with the numbers of /dev/null (1, 3), at <paramref name="path"/>.</summary>
    public static void MakeNullDevice(string path) => Check(MakeNode(path, TypeCharacter | 0x1B6 /* 0666 */, MakeDev(1, 3)), path);

    public static void MakeFifo(string path) => Check(MakeNode(path, TypeFifo | 0x1A4 /* 0644 */, 0), path);

    /// <summary>Reads everything a writer puts into the FIFO, on its own thread (opening a FIFO blocks until a writer comes).</summary>
    public static Task<byte[]> ReadFifoAsync(string path) => Task.Factory.StartNew(() =>
    {
        using var fifo = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        using var buffer = new MemoryStream();
        fifo.CopyTo(buffer);
        return buffer.ToArray();
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>A listening Unix socket at <paramref name="path"/> that accepts one connection and reads it to its end.</summary>
    public static (Socket Listener, Task<byte[]> Received) ListenUnixSocket(string path)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var received = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            await using var stream = new NetworkStream(peer);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer);
            return buffer.ToArray();
        });
        return (listener, received);
    }

    public static bool IsCharacterDevice(string path, out ulong device)
    {
        var buffer = Stat(path, follow: false);
        device = MakeDev(BitConverter.ToUInt32(buffer, 0x80), BitConverter.ToUInt32(buffer, 0x84)); // stx_rdev_major, stx_rdev_minor
        return (BitConverter.ToUInt16(buffer, 0x1C) & 0xF000) == TypeCharacter;
    }

    public static bool IsFifo(string path) => (BitConverter.ToUInt16(Stat(path, follow: false), 0x1C) & 0xF000) == TypeFifo;

    /// <summary>Device number of /dev/null (major 1, minor 3), as glibc's makedev encodes it.</summary>
    public static ulong NullDeviceNumber { get; } = MakeDev(1, 3);

    private static byte[] Stat(string path, bool follow)
    {
        var buffer = new byte[256];
        const int atFdCwd = -100, atSymlinkNoFollow = 0x100;
        if (Statx(atFdCwd, path, follow ? 0 : atSymlinkNoFollow, 0x3 /* type, mode */, buffer) != 0)
        {
            throw new IOException($"statx {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        return buffer;
    }

    /// <summary>glibc's makedev for the small numbers used here (major &lt; 4096, minor &lt; 256).</summary>
    private static ulong MakeDev(uint major, uint minor) => ((ulong)major << 8) | minor;

    private static void Check(int rc, string path)
    {
        if (rc != 0)
        {
            throw new IOException($"mknod {path}: errno {Marshal.GetLastPInvokeError()} (the test needs root for a device node)");
        }
    }

    [DllImport("libc", EntryPoint = "mknod", SetLastError = true)]
    private static extern int MakeNode([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong device);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}

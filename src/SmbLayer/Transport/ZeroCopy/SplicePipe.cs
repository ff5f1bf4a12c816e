using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SmbLayer.Transport;

/// <summary>
/// A kernel pipe through which the reader moves a READ response's data from the socket into a
/// file with Linux <c>splice(2)</c>: socket to pipe, pipe to file at the data's offset. The data
/// never enters user memory, which saves one of the two copies every download otherwise pays
/// (socket to user buffer, user buffer to file). One per connection link, used only by its reader.
/// </summary>
internal sealed class SplicePipe : IDisposable
{
    /// <summary>The AppContext switch that turns splice and sendfile off (public as <see cref="SmbClientOptions.DisableZeroCopySwitch"/>).</summary>
    internal const string DisableSwitch = "SmbLayer.DisableZeroCopy";

    /// <summary>Capacity asked for with F_SETPIPE_SZ: one 1 MiB READ per round; the default (64 KiB) also works, with more calls.</summary>
    private const int WantedCapacity = 1024 * 1024;

    private const uint SpliceMove = 1;
    private const uint SpliceNonBlock = 2;
    private const int FGetFl = 3;
    private const int FSetPipeSize = 1031;
    private const int OAppend = 0x400;
    private const int OCloExec = 0x80000;
    private const int EIntr = 4;
    private const int EAgain = 11;

    private readonly SafeFileHandle _readEnd;
    private readonly SafeFileHandle _writeEnd;
    private readonly Socket _socket;
    private byte[]? _discard;

    private SplicePipe(Socket socket, SafeFileHandle readEnd, SafeFileHandle writeEnd, int capacity)
    {
        _socket = socket;
        _readEnd = readEnd;
        _writeEnd = writeEnd;
        Capacity = capacity;
    }

    /// <summary>Bytes the pipe holds at most; one splice from the socket asks for no more.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Whether file transfers may bypass this process's memory: Linux, and <see cref="SmbClientOptions.DisableZeroCopySwitch"/>
    /// not set. Gates splice for downloads and sendfile for uploads; the reader still falls back per frame.
    /// </summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && !(AppContext.TryGetSwitch(DisableSwitch, out var disabled) && disabled);

    /// <summary>A pipe for the reader of <paramref name="socket"/>; null when the system refuses one (the reader then reads as usual).</summary>
    public static SplicePipe? TryCreate(Socket socket)
    {
        if (!IsSupported)
        {
            return null;
        }
        var fds = new int[2];
        try
        {
            if (Pipe2(fds, OCloExec) != 0)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        var readEnd = new SafeFileHandle(fds[0], ownsHandle: true);
        var writeEnd = new SafeFileHandle(fds[1], ownsHandle: true);
        // Larger than the default when allowed (pipe-max-size, 1 MiB by default); the kernel rounds up.
        var capacity = Fcntl(fds[1], FSetPipeSize, WantedCapacity);
        if (capacity <= 0)
        {
            capacity = Fcntl(fds[1], FSetPipeSize, 64 * 1024);
        }
        if (capacity <= 0)
        {
            readEnd.Dispose();
            writeEnd.Dispose();
            return null;
        }
        return new SplicePipe(socket, readEnd, writeEnd, capacity);
    }

    /// <summary>Whether a file opened with O_APPEND: splice refuses to write such a file at an offset.</summary>
    public static bool IsAppendOnly(SafeFileHandle file)
    {
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            var flags = Fcntl((int)file.DangerousGetHandle(), FGetFl, 0);
            return flags < 0 || (flags & OAppend) != 0;
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Moves up to <paramref name="count"/> bytes (at most <see cref="Capacity"/>) from the socket into the
    /// empty pipe without blocking. Returns the bytes moved; 0 when the server closed the connection;
    /// -1 when no data is there yet (wait with <see cref="WaitForDataAsync"/>).
    /// </summary>
    public int SpliceFromSocket(int count)
    {
        var want = (nuint)Math.Min(count, Capacity);
        var added = false;
        var handle = _socket.SafeHandle;
        handle.DangerousAddRef(ref added); // the socket's descriptor cannot be closed and reused under the call
        try
        {
            while (true)
            {
                var n = Splice((int)handle.DangerousGetHandle(), IntPtr.Zero, (int)_writeEnd.DangerousGetHandle(), IntPtr.Zero, want, SpliceMove | SpliceNonBlock);
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                {
                    continue;
                }
                if (errno == EAgain)
                {
                    return -1;
                }
                throw new IOException($"Receiving from the socket into a pipe failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Completes when the socket has data to read (or is closed), without taking any of it.</summary>
    public ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken) =>
        _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);

    /// <summary>
    /// Moves <paramref name="count"/> bytes, which the pipe holds, into <paramref name="file"/> at
    /// <paramref name="offset"/>. On failure, what is left of the count is drained from the pipe and
    /// the error returned, so the pipe is empty either way.
    /// </summary>
    public IOException? SpliceToFile(SafeFileHandle file, long offset, int count)
    {
        var fd = (int)file.DangerousGetHandle();
        var at = offset;
        var left = count;
        while (left > 0)
        {
            var n = Splice((int)_readEnd.DangerousGetHandle(), IntPtr.Zero, fd, ref at, (nuint)left, SpliceMove);
            if (n > 0)
            {
                left -= (int)n;
                continue;
            }
            var errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == EIntr)
            {
                continue;
            }
            Discard(left);
            return new IOException(n == 0
                ? "Writing the downloaded data to the local file stopped short."
                : $"Writing the downloaded data to the local file failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }
        return null;
    }

    /// <summary>Reads <paramref name="count"/> bytes out of the pipe and drops them (their file is gone or failed).</summary>
    public void Discard(int count)
    {
        _discard ??= new byte[64 * 1024];
        while (count > 0)
        {
            var n = Read((int)_readEnd.DangerousGetHandle(), ref _discard[0], (nuint)Math.Min(count, _discard.Length));
            if (n > 0)
            {
                count -= (int)n;
                continue;
            }
            var errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno != EIntr)
            {
                // Cannot happen for bytes the pipe holds; the link is then unusable.
                throw new IOException($"Draining the receive pipe failed (errno {errno}).");
            }
        }
    }

    /// <summary>Writes <paramref name="data"/> (bytes the reader had already read with the header) into <paramref name="file"/> at <paramref name="offset"/>.</summary>
    public static IOException? WriteToFile(SafeFileHandle file, ReadOnlySpan<byte> data, long offset)
    {
        var fd = (int)file.DangerousGetHandle();
        while (data.Length > 0)
        {
            var n = PWrite(fd, ref MemoryMarshal.GetReference(data), (nuint)data.Length, offset);
            if (n > 0)
            {
                data = data[(int)n..];
                offset += n;
                continue;
            }
            var errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno != EIntr)
            {
                return new IOException($"Writing the downloaded data to the local file failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
            }
        }
        return null;
    }

    public void Dispose()
    {
        _readEnd.Dispose();
        _writeEnd.Dispose();
    }

    [DllImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static extern int Pipe2(int[] fds, int flags);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    [DllImport("libc", EntryPoint = "splice", SetLastError = true)]
    private static extern nint Splice(int fdIn, IntPtr offIn, int fdOut, IntPtr offOut, nuint length, uint flags);

    [DllImport("libc", EntryPoint = "splice", SetLastError = true)]
    private static extern nint Splice(int fdIn, IntPtr offIn, int fdOut, ref long offOut, nuint length, uint flags);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint Read(int fd, ref byte buffer, nuint count);

    [DllImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static extern nint PWrite(int fd, ref byte buffer, nuint count, long offset);
}

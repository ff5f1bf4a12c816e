using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace SmbLayer.Mount.Fuse;

/// <summary>What a request is answered with: an errno (0: success) and a body, or nothing (FORGET, INTERRUPT).</summary>
internal readonly record struct FuseAnswer(int Error, byte[]? Body, int Length)
{
    public static FuseAnswer None => new(-1, null, 0);

    public static FuseAnswer Ok => new(0, null, 0);

    public static FuseAnswer Fail(int errno) => new(errno, null, 0);

    public static FuseAnswer With(byte[] body, int length) => new(0, body, length);

    public static FuseAnswer With(byte[] body) => new(0, body, body.Length);
}

/// <summary>The file system behind a FUSE session: answers each request (many at once, in any order).</summary>
internal interface IFuseFileSystem
{
    /// <summary>Answers <paramref name="request"/>; <paramref name="cancellationToken"/> fires on FUSE_INTERRUPT or unmount.</summary>
    Task<FuseAnswer> HandleAsync(FuseRequest request, CancellationToken cancellationToken);

    /// <summary>The session ends: release what is held.</summary>
    Task ShutdownAsync();
}

/// <summary>
/// The kernel's FUSE protocol on a FUSE device (<c>/dev/fuse</c>, or a node made with mknod): mounts with mount(2) (root),
/// reads requests on a thread of its own, answers them concurrently and in any order (one write(2) per answer, which
/// the kernel takes whole), cancels a request on FUSE_INTERRUPT, and ends when the file system is unmounted.
/// </summary>
internal sealed class FuseSession : IDisposable
{
    /// <summary>Largest READ or WRITE the kernel sends (max_pages 256 of 4 KiB).</summary>
    public const int MaxIo = 1024 * 1024;

    /// <summary>A request buffer: the largest WRITE plus its headers (the kernel refuses a smaller read buffer).</summary>
    private const int RequestBufferSize = MaxIo + 64 * 1024;

    private readonly int _fd;
    private readonly string _mountPoint;
    private readonly IFuseFileSystem _fileSystem;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ulong, CancellationTokenSource> _inFlight = new();
    private readonly CancellationTokenSource _ending = new();
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _mounted;
    private int _disposed;

    private FuseSession(int fd, string mountPoint, IFuseFileSystem fileSystem, ILogger logger)
    {
        _fd = fd;
        _mountPoint = mountPoint;
        _fileSystem = fileSystem;
        _logger = logger;
    }

    /// <summary>
    /// Opens <paramref name="device"/> and mounts it on <paramref name="mountPoint"/> (mount(2): needs root, or
    /// CAP_SYS_ADMIN). <paramref name="options"/> are the FUSE mount options after fd, rootmode, user_id and group_id.
    /// </summary>
    public static FuseSession Mount(string device, string mountPoint, string source, bool readOnly, uint uid, uint gid, string options,
        IFuseFileSystem fileSystem, ILogger logger)
    {
        var fd = Native.Open(device, Native.O_RDWR | Native.O_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"Cannot open the FUSE device {device}: {Native.ErrorText(Marshal.GetLastPInvokeError())}");
        }
        var session = new FuseSession(fd, mountPoint, fileSystem, logger);
        var data = $"fd={fd},rootmode=40000,user_id={uid},group_id={gid}" + (options.Length > 0 ? "," + options : "");
        var flags = Native.MS_NOSUID | Native.MS_NODEV | (readOnly ? Native.MS_RDONLY : 0);
        if (Native.Mount(source, mountPoint, "fuse.smb", flags, data) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Native.Close(fd);
            throw new IOException($"Cannot mount {source} on {mountPoint}: mount(2) failed, {Native.ErrorText(error)}" +
                (error == Errno.EPERM ? " (it needs root)" : ""));
        }
        session._mounted = 1;
        return session;
    }

    /// <summary>Serves requests until the file system is unmounted (then returns), or <paramref name="cancellationToken"/> fires (then unmounts).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var reader = new Thread(ReadLoop) { IsBackground = true, Name = "fuse-reader" };
        reader.Start();
        using (cancellationToken.Register(static s => ((FuseSession)s!).Unmount(), this))
        {
            await _ended.Task.ConfigureAwait(false);
        }
        _ending.Cancel(); // every request's token is linked to it (cancelling them one by one raced their disposal)
        await _fileSystem.ShutdownAsync().ConfigureAwait(false);
    }

    /// <summary>Detaches the mount (umount2, MNT_DETACH): the kernel ends the session, and the reader sees ENODEV.</summary>
    public void Unmount()
    {
        if (Interlocked.Exchange(ref _mounted, 0) == 1 && Native.Umount2(_mountPoint, Native.MNT_DETACH) != 0)
        {
            _logger.LogWarning("umount2 {MountPoint} failed: {Error}", _mountPoint, Native.ErrorText(Marshal.GetLastPInvokeError()));
        }
    }

    private void ReadLoop()
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(RequestBufferSize);
                var n = Native.Read(_fd, buffer, buffer.Length);
                if (n < 0)
                {
                    var error = Marshal.GetLastPInvokeError();
                    ArrayPool<byte>.Shared.Return(buffer);
                    if (error is Errno.EINTR or Errno.EAGAIN or Errno.ENOENT)
                    {
                        continue; // interrupted, or a request the kernel withdrew before we read it
                    }
                    if (error != Errno.ENODEV)
                    {
                        _logger.LogError("Reading the FUSE device failed: {Error}", Native.ErrorText(error));
                    }
                    break; // ENODEV: unmounted
                }
                FuseRequest request;
                try
                {
                    request = new FuseRequest(buffer, (int)n);
                }
                catch (InvalidDataException ex)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    _logger.LogError("A malformed FUSE request: {Error}", ex.Message);
                    break;
                }
                if (request.Opcode == FuseOpcode.Interrupt)
                {
                    var target = request.U64(0);
                    ArrayPool<byte>.Shared.Return(buffer);
                    if (_inFlight.TryGetValue(target, out var running))
                    {
                        running.Cancel();
                    }
                    continue;
                }
                var cancel = CancellationTokenSource.CreateLinkedTokenSource(_ending.Token);
                _inFlight[request.Unique] = cancel; // before any INTERRUPT for it can be read
                _ = DispatchAsync(request, buffer, cancel);
            }
        }
        finally
        {
            Interlocked.Exchange(ref _mounted, 0);
            _ended.TrySetResult();
        }
    }

    private async Task DispatchAsync(FuseRequest request, byte[] buffer, CancellationTokenSource cancel)
    {
        await Task.Yield(); // off the reader thread
        using var owned = cancel;
        FuseAnswer answer;
        try
        {
            answer = await _fileSystem.HandleAsync(request, cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            answer = FuseAnswer.Fail(Errno.EINTR);
        }
        catch (InvalidDataException ex)
        {
            _logger.LogWarning("FUSE {Opcode}: {Error}", request.Opcode, ex.Message);
            answer = FuseAnswer.Fail(Errno.EINVAL);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "FUSE {Opcode} failed unexpectedly", request.Opcode);
            answer = FuseAnswer.Fail(Errno.EIO);
        }
        finally
        {
            _inFlight.TryRemove(request.Unique, out _);
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (answer.Error >= 0)
        {
            Reply(request.Unique, answer);
        }
    }

    private void Reply(ulong unique, FuseAnswer answer)
    {
        var length = FuseReply.OutHeaderSize + (answer.Error == 0 ? answer.Length : 0);
        var reply = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(reply, (uint)length);
        BinaryPrimitives.WriteInt32LittleEndian(reply.AsSpan(4), -answer.Error);
        BinaryPrimitives.WriteUInt64LittleEndian(reply.AsSpan(8), unique);
        if (answer.Error == 0 && answer.Body is { } body)
        {
            body.AsSpan(0, answer.Length).CopyTo(reply.AsSpan(FuseReply.OutHeaderSize));
        }
        if (Native.Write(_fd, reply, reply.Length) < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            // ENOENT: the request was interrupted and is gone; ENODEV: unmounted meanwhile.
            if (error is not (Errno.ENOENT or Errno.ENODEV))
            {
                _logger.LogWarning("Answering FUSE request {Unique} failed: {Error}", unique, Native.ErrorText(error));
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Unmount();
            Native.Close(_fd);
            _ending.Dispose();
        }
    }

    private static class Native
    {
        public const int O_RDWR = 2;
        public const int O_CLOEXEC = 0x80000;
        public const ulong MS_RDONLY = 1;
        public const ulong MS_NOSUID = 2;
        public const ulong MS_NODEV = 4;
        public const int MNT_DETACH = 2;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);

        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        public static extern nint Read(int fd, byte[] buffer, nint count);

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        public static extern nint Write(int fd, byte[] buffer, nint count);

        [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
        public static extern int Mount([MarshalAs(UnmanagedType.LPUTF8Str)] string source, [MarshalAs(UnmanagedType.LPUTF8Str)] string target,
            [MarshalAs(UnmanagedType.LPUTF8Str)] string fileSystemType, ulong flags, [MarshalAs(UnmanagedType.LPUTF8Str)] string data);

        [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
        public static extern int Umount2([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);

        [DllImport("libc", EntryPoint = "strerror")]
        private static extern IntPtr StrError(int errno);

        public static string ErrorText(int errno) => $"{Marshal.PtrToStringUTF8(StrError(errno))} (errno {errno})";
    }
}

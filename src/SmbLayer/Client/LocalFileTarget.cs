using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SmbLayer.Client;

/// <summary>
/// Writes a download into a local path without ever destroying what the path names.
/// <list type="bullet">
/// <item>A regular file (or a new one) is written atomically: the data goes into a temporary file in the
/// same directory, which then takes the target's name. An existing file keeps its mode and, where this
/// process may set it, its owner. A failed or cancelled download leaves the old file as it was.</item>
/// <item>Anything else (a character or block device, a FIFO, a Unix socket) is written straight into:
/// renaming over <c>/dev/null</c> would replace the device with a regular file.</item>
/// <item>Through a symbolic link, the link's final target is written, and the link stays.</item>
/// <item>A path under <c>/proc</c> or <c>/dev/fd</c>, or <c>/dev/stdout</c> and <c>/dev/stderr</c>, names a
/// file descriptor another process holds; it is written in place even when it is a regular file.</item>
/// </list>
/// Error messages name the target, never the temporary file.
/// </summary>
internal static class LocalFileTarget
{
    private const string TemporarySuffix = ".smbpart";

    /// <summary>Runs <paramref name="write"/> with a stream onto <paramref name="path"/> by the rules above; returns what it returns.</summary>
    public static async Task<long> WriteAsync(string path, Func<Stream, CancellationToken, Task<long>> write, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var kind = Kind(full, out var existing);
        switch (kind)
        {
            case FileKind.Directory:
                throw new IOException($"'{path}' is a directory.");
            case FileKind.Socket:
                return await WriteToSocketAsync(full, write, cancellationToken).ConfigureAwait(false);
            case FileKind.Device or FileKind.Fifo or FileKind.Other:
                return await WriteInPlaceAsync(full, path, truncate: false, write, cancellationToken).ConfigureAwait(false);
            case FileKind.Regular when NamesADescriptor(full):
                return await WriteInPlaceAsync(full, path, truncate: true, write, cancellationToken).ConfigureAwait(false);
            default:
                return await WriteReplacingAsync(FinalTarget(full), path, existing, write, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<long> WriteReplacingAsync(string target, string shownPath, FileOwnership? existing,
        Func<Stream, CancellationToken, Task<long>> write, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(target) ?? ".";
        var temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}{TemporarySuffix}");
        FileStream file;
        try
        {
            file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1);
        }
        catch (UnauthorizedAccessException) when (existing is not null)
        {
            // The directory takes no new file but the file itself may be writable (cp would succeed): write it in
            // place. The old contents are then gone if the download fails.
            return await WriteInPlaceAsync(target, shownPath, truncate: true, write, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Renamed(ex, temporary, shownPath);
        }
        try
        {
            long written;
            await using (file.ConfigureAwait(false))
            {
                if (existing is { } owner)
                {
                    owner.ApplyTo(file.SafeFileHandle);
                }
                written = await write(file, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            File.Move(temporary, target, overwrite: true);
            return written;
        }
        catch (Exception ex)
        {
            TryDelete(temporary);
            if (ex is IOException or UnauthorizedAccessException)
            {
                throw Renamed(ex, temporary, shownPath);
            }
            throw;
        }
    }

    private static async Task<long> WriteInPlaceAsync(string target, string shownPath, bool truncate,
        Func<Stream, CancellationToken, Task<long>> write, CancellationToken cancellationToken)
    {
        // Opening a FIFO blocks until a reader opens it (as a shell's redirection does); the caller can still cancel.
        FileStream file;
        var open = Task.Run(() => new FileStream(target, truncate ? FileMode.Truncate : FileMode.Open, FileAccess.Write,
            FileShare.ReadWrite, bufferSize: 0), CancellationToken.None);
        try
        {
            file = await open.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Should a reader still come, the stream that opens then is closed at once.
            _ = open.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Renamed(ex, target, shownPath);
        }
        await using (file.ConfigureAwait(false))
        {
            // Written in order, never at offsets: a device or FIFO has no positions to write at.
            await using var sequential = new SequentialStream(file);
            var written = await write(sequential, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            return written;
        }
    }

    private static async Task<long> WriteToSocketAsync(string target, Func<Stream, CancellationToken, Task<long>> write, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(target), cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var written = await write(stream, cancellationToken).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send);
        return written;
    }

    /// <summary>The file a chain of symbolic links at <paramref name="path"/> ends at (the path itself when it is no link).</summary>
    private static string FinalTarget(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null)
        {
            return path;
        }
        return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
    }

    private static bool NamesADescriptor(string fullPath) =>
        fullPath.StartsWith("/proc/", StringComparison.Ordinal) || fullPath.StartsWith("/dev/fd/", StringComparison.Ordinal)
        || fullPath is "/dev/stdout" or "/dev/stderr";

    private static Exception Renamed(Exception ex, string hidden, string shown)
    {
        var message = ex.Message.Replace(hidden, shown, StringComparison.Ordinal);
        if (!message.Contains(shown, StringComparison.Ordinal))
        {
            message = $"Cannot write '{shown}': {message}";
        }
        return ex switch
        {
            UnauthorizedAccessException => new UnauthorizedAccessException(message),
            DirectoryNotFoundException => new DirectoryNotFoundException(message),
            _ => new IOException(message, ex.HResult),
        };
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error matters more.
        }
    }

    internal enum FileKind { Missing, Regular, Directory, Device, Fifo, Socket, Other }

    /// <summary>What <paramref name="path"/> is once symbolic links are followed (a dangling link is <see cref="FileKind.Missing"/>).</summary>
    internal static FileKind Kind(string path, out FileOwnership? existing)
    {
        existing = null;
        if (!OperatingSystem.IsLinux())
        {
            return Directory.Exists(path) ? FileKind.Directory : File.Exists(path) ? FileKind.Regular : FileKind.Missing;
        }
        var buffer = new byte[StatxSize];
        if (Statx(AtFdCwd, path, 0, StatxType | StatxMode | StatxUid | StatxGid, buffer) != 0)
        {
            // ENOENT (also a dangling link, or a missing directory on the way): a new file. Anything else the
            // open that follows reports with its own, clearer error.
            return FileKind.Missing;
        }
        var mode = BitConverter.ToUInt16(buffer, StatxModeOffset);
        var kind = (mode & FileTypeMask) switch
        {
            TypeRegular => FileKind.Regular,
            TypeDirectory => FileKind.Directory,
            TypeCharacter or TypeBlock => FileKind.Device,
            TypeFifo => FileKind.Fifo,
            TypeSocket => FileKind.Socket,
            _ => FileKind.Other,
        };
        if (kind == FileKind.Regular)
        {
            existing = new FileOwnership((UnixFileMode)(mode & 0xFFF),
                BitConverter.ToUInt32(buffer, StatxUidOffset), BitConverter.ToUInt32(buffer, StatxGidOffset));
        }
        return kind;
    }

    /// <summary>An existing file's permission bits and owner, given to the file that replaces it.</summary>
    internal readonly record struct FileOwnership(UnixFileMode Mode, uint Uid, uint Gid)
    {
        public void ApplyTo(SafeFileHandle handle)
        {
            if (!OperatingSystem.IsLinux())
            {
                return;
            }
            // Owner first: changing it clears set-user-ID bits, which the mode then restores. Only root (or the
            // owner, for the group) may change it; otherwise the new file stays ours, as cp's would.
            _ = FChown(handle, Uid, Gid);
            File.SetUnixFileMode(handle, Mode);
        }
    }

    /// <summary>A stream that writes straight through and offers no positions, so callers write in order.</summary>
    private sealed class SequentialStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);
    }

    // statx(2): its struct has one layout on every architecture, unlike struct stat.
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxGid = 0x10;
    private const int StatxSize = 256, StatxUidOffset = 20, StatxGidOffset = 24, StatxModeOffset = 28;
    private const int FileTypeMask = 0xF000, TypeFifo = 0x1000, TypeCharacter = 0x2000, TypeDirectory = 0x4000,
        TypeBlock = 0x6000, TypeRegular = 0x8000, TypeSocket = 0xC000;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static extern int FChown(SafeFileHandle fd, uint owner, uint group);
}

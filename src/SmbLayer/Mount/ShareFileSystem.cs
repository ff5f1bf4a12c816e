using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using SmbLayer.Client;
using SmbLayer.Mount.Fuse;
using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer.Mount;

/// <summary>
/// A share (or a directory in it) as a FUSE file system: each request becomes calls of the file API under the mount's
/// hard or soft setting, so reconnects, durable reopens and DFS are the client's. Inodes are paths under the mount's
/// root, numbered as the kernel learns them (LOOKUP, READDIRPLUS, CREATE, MKDIR) and forgotten when it forgets them.
/// Nothing is cached here; the kernel keeps names and attributes for <see cref="Validity"/>.
/// </summary>
internal sealed class ShareFileSystem : IFuseFileSystem
{
    /// <summary>How long the kernel may keep a name or attributes (no lease backs them yet, so it is short).</summary>
    public static readonly TimeSpan Validity = TimeSpan.FromSeconds(1);

    private const ulong RootId = 1;
    private const uint ProtocolMinor = 31;
    private const uint FUSE_ASYNC_READ = 1u << 0;
    private const uint FUSE_ATOMIC_O_TRUNC = 1u << 3;
    private const uint FUSE_BIG_WRITES = 1u << 5;
    private const uint FUSE_DO_READDIRPLUS = 1u << 13;
    private const uint FUSE_READDIRPLUS_AUTO = 1u << 14;
    private const uint FUSE_PARALLEL_DIROPS = 1u << 18;
    private const uint FUSE_MAX_PAGES = 1u << 22;

    private const int O_ACCMODE = 3;
    private const int O_WRONLY = 1;
    private const int O_RDWR = 2;
    private const int O_CREAT = 0x40;
    private const int O_EXCL = 0x80;
    private const int O_TRUNC = 0x200;

    private readonly SmbClient _client;
    private readonly SmbPath _root;
    private readonly bool _readOnly;
    private readonly uint _uid;
    private readonly uint _gid;
    private readonly ILogger _logger;
    private readonly object _nodesLock = new();
    private readonly Dictionary<ulong, Node> _nodes = [];
    private readonly Dictionary<string, Node> _byPath = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ulong, OpenFile> _files = new();
    private readonly ConcurrentDictionary<ulong, List<SmbFileInfo>> _directories = new();
    private long _nextNode = (long)RootId;
    private long _nextHandle;

    public ShareFileSystem(SmbClient client, SmbPath root, bool readOnly, uint uid, uint gid, ILogger logger)
    {
        _client = client;
        _root = root;
        _readOnly = readOnly;
        _uid = uid;
        _gid = gid;
        _logger = logger;
        var node = new Node(RootId, "") { Lookups = 1 };
        _nodes[RootId] = node;
        _byPath[""] = node;
    }

    private sealed class Node(ulong id, string path)
    {
        public ulong Id { get; } = id;
        public string Path { get; set; } = path;
        public long Lookups { get; set; }
    }

    private sealed record OpenFile(TreeLease Lease, SmbOpen Open, string Path);

    public Task<FuseAnswer> HandleAsync(FuseRequest request, CancellationToken cancellationToken) => request.Opcode switch
    {
        FuseOpcode.Init => Task.FromResult(Init(request)),
        FuseOpcode.Destroy => Task.FromResult(FuseAnswer.Ok),
        FuseOpcode.Forget => Task.FromResult(Forget(request.NodeId, request.U64(0))),
        FuseOpcode.BatchForget => Task.FromResult(BatchForget(request)),
        FuseOpcode.Lookup => Guard(LookupAsync(request, cancellationToken)),
        FuseOpcode.GetAttr => Guard(GetAttrAsync(request, cancellationToken)),
        FuseOpcode.SetAttr => Guard(SetAttrAsync(request, cancellationToken)),
        FuseOpcode.OpenDir => Guard(OpenDirAsync(request, cancellationToken)),
        FuseOpcode.ReadDir => Task.FromResult(ReadDir(request, plus: false)),
        FuseOpcode.ReadDirPlus => Task.FromResult(ReadDir(request, plus: true)),
        FuseOpcode.ReleaseDir => Task.FromResult(ReleaseDir(request)),
        FuseOpcode.Open => Guard(OpenAsync(request, cancellationToken)),
        FuseOpcode.Create => Guard(CreateAsync(request, cancellationToken)),
        FuseOpcode.Read => Guard(ReadAsync(request, cancellationToken)),
        FuseOpcode.Write => Guard(WriteAsync(request, cancellationToken)),
        FuseOpcode.Flush => Task.FromResult(FuseAnswer.Ok), // writes go through at once: nothing is held back
        FuseOpcode.Fsync => Guard(FsyncAsync(request, cancellationToken)),
        FuseOpcode.FsyncDir => Task.FromResult(FuseAnswer.Ok),
        FuseOpcode.Release => Guard(ReleaseAsync(request)),
        FuseOpcode.MkDir => Guard(MkDirAsync(request, cancellationToken)),
        FuseOpcode.Unlink => Guard(RemoveAsync(request, directory: false, cancellationToken)),
        FuseOpcode.RmDir => Guard(RemoveAsync(request, directory: true, cancellationToken)),
        FuseOpcode.Rename => Guard(RenameAsync(request, flags: 0, nameOffset: 8, cancellationToken)),
        FuseOpcode.Rename2 => Guard(RenameAsync(request, flags: request.U32(8), nameOffset: 16, cancellationToken)),
        FuseOpcode.StatFs => Guard(StatFsAsync(cancellationToken)),
        FuseOpcode.Access => Task.FromResult(FuseAnswer.Ok), // default_permissions: the kernel checks the mode bits
        _ => Task.FromResult(FuseAnswer.Fail(Errno.ENOSYS)),
    };

    /// <summary>An SMB error as the errno a program expects; the kernel gets it, the log the reason.</summary>
    private async Task<FuseAnswer> Guard(Task<FuseAnswer> operation)
    {
        try
        {
            return await operation.ConfigureAwait(false);
        }
        catch (SmbException ex)
        {
            var errno = ToErrno(ex);
            if (errno is Errno.EIO or Errno.ETIMEDOUT)
            {
                _logger.LogWarning("{Error}", ex.Message);
            }
            return FuseAnswer.Fail(errno);
        }
        catch (ArgumentException ex)
        {
            _logger.LogInformation("{Error}", ex.Message);
            return FuseAnswer.Fail(Errno.EINVAL);
        }
        catch (IOException ex)
        {
            _logger.LogWarning("{Error}", ex.Message);
            return FuseAnswer.Fail(Errno.EIO);
        }
    }

    internal static int ToErrno(SmbException ex) => ex switch
    {
        SmbStatusException s => s.Status switch
        {
            NtStatus.ObjectNameNotFound or NtStatus.ObjectPathNotFound or NtStatus.NoSuchFile or NtStatus.NotFound or NtStatus.DeletePending => Errno.ENOENT,
            NtStatus.AccessDenied or NtStatus.NetworkAccessDenied or NtStatus.SharingViolation or NtStatus.CannotDelete => Errno.EACCES,
            NtStatus.ObjectNameCollision => Errno.EEXIST,
            NtStatus.DirectoryNotEmpty => Errno.ENOTEMPTY,
            NtStatus.NotADirectory => Errno.ENOTDIR,
            NtStatus.FileIsADirectory => Errno.EISDIR,
            NtStatus.DiskFull => Errno.ENOSPC,
            NtStatus.MediaWriteProtected => Errno.EROFS,
            NtStatus.NameTooLong => Errno.ENAMETOOLONG,
            NtStatus.InvalidParameter => Errno.EINVAL,
            _ => Errno.EIO,
        },
        _ => Errno.EIO, // timeouts (soft), lost handles, protocol errors, outcomes unknown
    };

    private FuseAnswer Init(FuseRequest request)
    {
        var major = request.U32(0);
        var minor = request.U32(4);
        var readAhead = request.U32(8);
        var offered = request.U32(12);
        if (major != 7 || minor < 26)
        {
            _logger.LogError("The kernel speaks FUSE {Major}.{Minor}; 7.26 or later is needed", major, minor);
            return FuseAnswer.Fail(Errno.EPROTO);
        }
        var wanted = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO
            | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES;
        var body = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(body, 7);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), Math.Min(minor, ProtocolMinor));
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), Math.Min(readAhead, (uint)FuseSession.MaxIo));
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(12), offered & wanted);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(16), 64); // max_background
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(18), 48); // congestion_threshold
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(20), FuseSession.MaxIo); // max_write
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(24), 100); // time_gran: SMB times are in 100 ns
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(28), FuseSession.MaxIo / 4096); // max_pages
        return FuseAnswer.With(body);
    }

    private string PathOf(ulong nodeId)
    {
        lock (_nodesLock)
        {
            return _nodes.TryGetValue(nodeId, out var node) ? node.Path
                : throw new SmbStatusException(NtStatus.ObjectNameNotFound, $"Inode {nodeId} is not known");
        }
    }

    private static string Child(string parent, string name)
    {
        if (name.Length == 0 || name is "." or ".." || name.Contains('/') || name.Contains('\\'))
        {
            throw new ArgumentException($"'{name}' cannot be a name on an SMB share.");
        }
        return parent.Length == 0 ? name : parent + "/" + name;
    }

    private SmbPath Location(string path) => _root.Combine(path); // "" is the mount's root: empty parts are dropped

    /// <summary>The node for <paramref name="path"/>, its lookup count raised by one (the kernel now holds a reference).</summary>
    private ulong Remember(string path)
    {
        lock (_nodesLock)
        {
            if (!_byPath.TryGetValue(path, out var node))
            {
                node = new Node((ulong)Interlocked.Increment(ref _nextNode), path);
                _byPath[path] = node;
                _nodes[node.Id] = node;
            }
            node.Lookups++;
            return node.Id;
        }
    }

    private FuseAnswer Forget(ulong nodeId, ulong count)
    {
        lock (_nodesLock)
        {
            if (nodeId != RootId && _nodes.TryGetValue(nodeId, out var node))
            {
                node.Lookups -= (long)count;
                if (node.Lookups <= 0)
                {
                    _nodes.Remove(nodeId);
                    if (_byPath.TryGetValue(node.Path, out var current) && ReferenceEquals(current, node))
                    {
                        _byPath.Remove(node.Path);
                    }
                }
            }
        }
        return FuseAnswer.None;
    }

    private FuseAnswer BatchForget(FuseRequest request)
    {
        var count = request.U32(0);
        for (var i = 0; i < count && 8 + (i * 16) + 16 <= request.Body.Length; i++)
        {
            Forget(request.U64(8 + (i * 16)), request.U64(8 + (i * 16) + 8));
        }
        return FuseAnswer.None;
    }

    private FuseAttr AttrOf(ulong ino, SmbFileInfo info)
    {
        var directory = info.IsDirectory;
        var permissions = directory ? 0x1EDu : 0x1A4u; // 0755, 0644
        if (_readOnly || (info.Attributes & FileAttributes.ReadOnly) != 0 && !directory)
        {
            permissions &= ~0x92u; // no write bits
        }
        return new FuseAttr(ino, directory ? 0 : (ulong)Math.Max(0, info.Size), (ulong)Math.Max(0, info.AllocationSize) / 512,
            info.LastAccessTime, info.LastWriteTime, info.ChangeTime,
            (directory ? FuseAttr.S_IFDIR : FuseAttr.S_IFREG) | permissions, directory ? 2u : 1u, _uid, _gid);
    }

    private FuseAnswer Entry(ulong nodeId, SmbFileInfo info)
    {
        var body = new byte[FuseReply.EntryOutSize];
        FuseReply.WriteEntry(body, nodeId, AttrOf(nodeId, info), Validity);
        return FuseAnswer.With(body);
    }

    private async Task<FuseAnswer> LookupAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        var path = Child(PathOf(request.NodeId), request.Name(0));
        var info = await _client.GetInfoAsync(Location(path), cancellationToken).ConfigureAwait(false);
        return Entry(Remember(path), info);
    }

    private async Task<FuseAnswer> GetAttrAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        var info = await _client.GetInfoAsync(Location(PathOf(request.NodeId)), cancellationToken).ConfigureAwait(false);
        var body = new byte[FuseReply.AttrOutSize];
        FuseReply.WriteAttrOut(body, AttrOf(request.NodeId, info), Validity);
        return FuseAnswer.With(body);
    }

    private const uint FATTR_SIZE = 1 << 3;
    private const uint FATTR_ATIME = 1 << 4;
    private const uint FATTR_MTIME = 1 << 5;
    private const uint FATTR_FH = 1 << 6;
    private const uint FATTR_ATIME_NOW = 1 << 7;
    private const uint FATTR_MTIME_NOW = 1 << 8;

    private async Task<FuseAnswer> SetAttrAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        var valid = request.U32(0);
        var path = PathOf(request.NodeId);
        var location = Location(path);
        if ((valid & (FATTR_SIZE | FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) != 0 && _readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        if ((valid & FATTR_SIZE) != 0)
        {
            var size = (long)request.U64(16);
            var buffer = FileInfoBuilders.EndOfFile(size);
            if ((valid & FATTR_FH) != 0 && _files.TryGetValue(request.U64(8), out var file))
            {
                await file.Open.SetInfoAsync(FileInformationClass.FileEndOfFileInformation, buffer, $"Truncating '{path}'", cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _client.SetEndOfFileAsync(location, size, cancellationToken).ConfigureAwait(false);
            }
        }
        if ((valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) != 0)
        {
            var now = DateTimeOffset.UtcNow;
            DateTimeOffset? atime = (valid & FATTR_ATIME_NOW) != 0 ? now : (valid & FATTR_ATIME) != 0 ? Time(request.U64(32), request.U32(56)) : null;
            DateTimeOffset? mtime = (valid & FATTR_MTIME_NOW) != 0 ? now : (valid & FATTR_MTIME) != 0 ? Time(request.U64(40), request.U32(60)) : null;
            await _client.SetTimesAsync(location, lastAccessTime: atime, lastWriteTime: mtime, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        // Mode, owner and group: SMB has no place for them (no POSIX extensions); accepted as cifs.ko does without them.
        var info = await _client.GetInfoAsync(location, cancellationToken).ConfigureAwait(false);
        var body = new byte[FuseReply.AttrOutSize];
        FuseReply.WriteAttrOut(body, AttrOf(request.NodeId, info), Validity);
        return FuseAnswer.With(body);
    }

    private static DateTimeOffset Time(ulong seconds, uint nanoseconds) =>
        DateTimeOffset.UnixEpoch.AddTicks(((long)Math.Min(seconds, 253_402_300_799UL) * TimeSpan.TicksPerSecond) + (nanoseconds / 100));

    private async Task<FuseAnswer> OpenDirAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        var entries = new List<SmbFileInfo>();
        await foreach (var entry in _client.ListAsync(Location(PathOf(request.NodeId)), "*", cancellationToken).ConfigureAwait(false))
        {
            entries.Add(entry);
        }
        var fh = (ulong)Interlocked.Increment(ref _nextHandle);
        _directories[fh] = entries;
        var body = new byte[FuseReply.OpenOutSize];
        FuseReply.WriteOpenOut(body, fh, 0);
        return FuseAnswer.With(body);
    }

    /// <summary>READDIR / READDIRPLUS from the listing taken at OPENDIR: ".", "..", then the entries; offsets are indexes.</summary>
    private FuseAnswer ReadDir(FuseRequest request, bool plus)
    {
        if (!_directories.TryGetValue(request.U64(0), out var entries))
        {
            return FuseAnswer.Fail(Errno.EBADF);
        }
        var offset = (long)request.U64(8);
        var size = (int)Math.Min(request.U32(16), FuseSession.MaxIo);
        var directory = PathOf(request.NodeId);
        var body = new byte[size];
        var used = 0;
        for (var index = offset; index < entries.Count + 2; index++)
        {
            var name = index == 0 ? "." : index == 1 ? ".." : entries[(int)index - 2].Name;
            var bytes = Encoding.UTF8.GetBytes(name);
            var need = FuseReply.DirentSize(bytes.Length) + (plus ? FuseReply.EntryOutSize : 0);
            if (used + need > size)
            {
                break;
            }
            var isDirectory = index < 2 || entries[(int)index - 2].IsDirectory;
            var ino = index == 0 ? request.NodeId : index == 1 ? RootId : InoOf(Child(directory, entries[(int)index - 2].Name));
            if (plus)
            {
                if (index >= 2)
                {
                    var info = entries[(int)index - 2];
                    ino = Remember(Child(directory, info.Name));
                    FuseReply.WriteEntry(body.AsSpan(used), ino, AttrOf(ino, info), Validity);
                }
                else
                {
                    body.AsSpan(used, FuseReply.EntryOutSize).Clear(); // nodeid 0: the kernel makes no entry of it
                }
                used += FuseReply.EntryOutSize;
            }
            used += FuseReply.WriteDirent(body.AsSpan(used), ino, (ulong)index + 1, bytes, isDirectory);
        }
        return FuseAnswer.With(body, used);
    }

    /// <summary>A directory entry's inode number: its node's when the kernel knows it, else a stable number from its path (never 0).</summary>
    private ulong InoOf(string path)
    {
        lock (_nodesLock)
        {
            if (_byPath.TryGetValue(path, out var node))
            {
                return node.Id;
            }
        }
        var hash = 14695981039346656037UL; // FNV-1a, high bit set: apart from node numbers
        foreach (var c in path)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash | (1UL << 63);
    }

    private FuseAnswer ReleaseDir(FuseRequest request)
    {
        _directories.TryRemove(request.U64(0), out _);
        return FuseAnswer.Ok;
    }

    private static CreateRequest FileRequest(SmbPath at, int flags, CreateDisposition disposition) => new(at.WirePath)
    {
        DesiredAccess = (flags & O_ACCMODE) == 0
            ? AccessMask.FileReadData | AccessMask.FileReadAttributes | AccessMask.Synchronize
            : AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileAppendData | AccessMask.FileReadAttributes
                | AccessMask.FileWriteAttributes | AccessMask.Synchronize,
        ShareAccess = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete,
        CreateDisposition = disposition,
        CreateOptions = CreateOptions.NonDirectoryFile,
        FileAttributes = FileAttributes.Normal,
    };

    private async Task<FuseAnswer> OpenAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        var flags = (int)request.U32(0);
        var writing = (flags & O_ACCMODE) is O_WRONLY or O_RDWR;
        if (writing && _readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        var path = PathOf(request.NodeId);
        var disposition = writing && (flags & O_TRUNC) != 0 ? CreateDisposition.Overwrite : CreateDisposition.Open;
        var fh = await OpenFileAsync(path, flags, disposition, cancellationToken).ConfigureAwait(false);
        var body = new byte[FuseReply.OpenOutSize];
        FuseReply.WriteOpenOut(body, fh, 0);
        return FuseAnswer.With(body);
    }

    private async Task<ulong> OpenFileAsync(string path, int flags, CreateDisposition disposition, CancellationToken cancellationToken)
    {
        var (lease, open, _) = await _client.OpenAsync(Location(path), at => FileRequest(at, flags, disposition), HandleDurability.Durable,
            cancellationToken).ConfigureAwait(false);
        var fh = (ulong)Interlocked.Increment(ref _nextHandle);
        _files[fh] = new OpenFile(lease, open, path);
        return fh;
    }

    private async Task<FuseAnswer> CreateAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        if (_readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        var flags = (int)request.U32(0);
        var path = Child(PathOf(request.NodeId), request.Name(16));
        var disposition = (flags & O_EXCL) != 0 ? CreateDisposition.Create
            : (flags & O_TRUNC) != 0 ? CreateDisposition.OverwriteIf : CreateDisposition.OpenIf;
        var fh = await OpenFileAsync(path, flags | O_CREAT, disposition, cancellationToken).ConfigureAwait(false);
        SmbFileInfo info;
        try
        {
            info = await _client.GetInfoAsync(Location(path), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await CloseFileAsync(fh).ConfigureAwait(false);
            throw;
        }
        var node = Remember(path);
        var body = new byte[FuseReply.EntryOutSize + FuseReply.OpenOutSize];
        FuseReply.WriteEntry(body, node, AttrOf(node, info), Validity);
        FuseReply.WriteOpenOut(body.AsSpan(FuseReply.EntryOutSize), fh, 0);
        return FuseAnswer.With(body);
    }

    private async Task<FuseAnswer> ReadAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        if (!_files.TryGetValue(request.U64(0), out var file))
        {
            return FuseAnswer.Fail(Errno.EBADF);
        }
        var offset = (long)request.U64(8);
        var size = (int)Math.Min(request.U32(16), FuseSession.MaxIo);
        var chunk = (int)Math.Min(file.Open.Tree.Connection.Negotiated!.MaxReadSize, (uint)FuseSession.MaxIo);
        var body = new byte[size];
        var done = 0;
        while (done < size)
        {
            var asked = Math.Min(chunk, size - done);
            using var data = await file.Open.ReadBufferAsync(offset + done, asked, cancellationToken).ConfigureAwait(false);
            data.Data.Span.CopyTo(body.AsSpan(done));
            done += data.Length;
            if (data.Length < asked)
            {
                break; // the end of the file
            }
        }
        return FuseAnswer.With(body, done);
    }

    private async Task<FuseAnswer> WriteAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        if (!_files.TryGetValue(request.U64(0), out var file))
        {
            return FuseAnswer.Fail(Errno.EBADF);
        }
        var offset = (long)request.U64(8);
        var size = (int)request.U32(16);
        const int DataOffset = 40;
        if (DataOffset + size > request.Body.Length)
        {
            throw new InvalidDataException($"FUSE WRITE of {size} bytes with {request.Body.Length - DataOffset} in the request.");
        }
        var data = request.Body.Slice(DataOffset, size);
        var chunk = (int)Math.Min(file.Open.Tree.Connection.Negotiated!.MaxWriteSize, (uint)FuseSession.MaxIo);
        var done = 0;
        while (done < size)
        {
            var n = Math.Min(chunk, size - done);
            var taken = await file.Open.WriteAsync(offset + done, data.Slice(done, n), cancellationToken).ConfigureAwait(false);
            if (taken <= 0)
            {
                break;
            }
            done += taken;
        }
        var body = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)done);
        return FuseAnswer.With(body);
    }

    private async Task<FuseAnswer> FsyncAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        if (!_files.TryGetValue(request.U64(0), out var file))
        {
            return FuseAnswer.Fail(Errno.EBADF);
        }
        await file.Open.FlushAsync(cancellationToken).ConfigureAwait(false);
        return FuseAnswer.Ok;
    }

    private async Task<FuseAnswer> ReleaseAsync(FuseRequest request)
    {
        await CloseFileAsync(request.U64(0)).ConfigureAwait(false);
        return FuseAnswer.Ok;
    }

    /// <summary>Closes a handle the kernel let go of; not cancelled by an interrupt (a handle must not leak).</summary>
    private async Task CloseFileAsync(ulong fh)
    {
        if (!_files.TryRemove(fh, out var file))
        {
            return;
        }
        try
        {
            await file.Open.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (SmbException ex)
        {
            _logger.LogWarning("Closing '{Path}': {Error}", file.Path, ex.Message);
        }
        finally
        {
            await file.Open.DisposeAsync().ConfigureAwait(false);
            file.Lease.Dispose();
        }
    }

    private async Task<FuseAnswer> MkDirAsync(FuseRequest request, CancellationToken cancellationToken)
    {
        if (_readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        var path = Child(PathOf(request.NodeId), request.Name(8));
        await _client.CreateDirectoryAsync(Location(path), cancellationToken).ConfigureAwait(false);
        var info = await _client.GetInfoAsync(Location(path), cancellationToken).ConfigureAwait(false);
        return Entry(Remember(path), info);
    }

    private async Task<FuseAnswer> RemoveAsync(FuseRequest request, bool directory, CancellationToken cancellationToken)
    {
        if (_readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        var path = Child(PathOf(request.NodeId), request.Name(0));
        if (directory)
        {
            await _client.DeleteDirectoryAsync(Location(path), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await _client.DeleteFileAsync(Location(path), cancellationToken).ConfigureAwait(false);
        }
        return FuseAnswer.Ok;
    }

    private const uint RENAME_NOREPLACE = 1;

    private async Task<FuseAnswer> RenameAsync(FuseRequest request, uint flags, int nameOffset, CancellationToken cancellationToken)
    {
        if (_readOnly)
        {
            return FuseAnswer.Fail(Errno.EROFS);
        }
        if ((flags & ~RENAME_NOREPLACE) != 0)
        {
            return FuseAnswer.Fail(Errno.EINVAL); // RENAME_EXCHANGE, RENAME_WHITEOUT: SMB has no such rename
        }
        var oldName = request.Name(nameOffset, out var next);
        var newName = request.Name(next);
        var from = Child(PathOf(request.NodeId), oldName);
        var to = Child(PathOf(request.U64(0)), newName);
        var target = Location(to);
        await _client.RenameAsync(Location(from), target.Path, replaceIfExists: (flags & RENAME_NOREPLACE) == 0, cancellationToken).ConfigureAwait(false);
        lock (_nodesLock)
        {
            // The renamed node and everything under it take their new paths.
            foreach (var node in _byPath.Values.Where(n => n.Path == from || n.Path.StartsWith(from + "/", StringComparison.Ordinal)).ToList())
            {
                _byPath.Remove(node.Path);
                node.Path = to + node.Path[from.Length..];
                _byPath[node.Path] = node;
            }
        }
        return FuseAnswer.Ok;
    }

    private async Task<FuseAnswer> StatFsAsync(CancellationToken cancellationToken)
    {
        var fs = await _client.GetFileSystemInfoAsync(Location(""), cancellationToken).ConfigureAwait(false);
        const uint BlockSize = 4096;
        var body = new byte[80];
        BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)Math.Max(0, fs.TotalBytes) / BlockSize);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), (ulong)Math.Max(0, fs.FreeBytes) / BlockSize);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), (ulong)Math.Max(0, fs.FreeBytes) / BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(40), BlockSize); // bsize
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(44), 255); // namelen
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(48), BlockSize); // frsize
        return FuseAnswer.With(body);
    }

    public async Task ShutdownAsync()
    {
        foreach (var fh in _files.Keys.ToList())
        {
            await CloseFileAsync(fh).ConfigureAwait(false);
        }
        _directories.Clear();
    }
}

using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Client;
using SmbLayer.Protocol;
using SmbLayer.Session;

namespace SmbLayer;

// The file API over the session layer: each call leases a tree from the pool, opens, acts, closes.
public sealed partial class SmbClient
{
    private ConnectionPool? _pool;
    private readonly object _poolLock = new();

    /// <summary>Directory listings ask for this much per QUERY_DIRECTORY round trip (capped by the server's MaxTransactSize).</summary>
    private const int ListingBufferSize = 1024 * 1024;

    /// <summary>Names one listing remembers to skip after a restart (<see cref="ReturnedNames"/>): about 24 MB at most.</summary>
    internal const int DefaultListingNameLimit = 1_000_000;

    /// <summary><see cref="DefaultListingNameLimit"/>, or a smaller one a test sets.</summary>
    internal int ListingNameLimit { get; set; } = DefaultListingNameLimit;

    private const AccessMask ReadAccess = AccessMask.FileReadData | AccessMask.FileReadAttributes | AccessMask.Synchronize;
    private const AccessMask WriteAccess = AccessMask.FileReadData | AccessMask.FileWriteData | AccessMask.FileAppendData
        | AccessMask.FileReadAttributes | AccessMask.FileWriteAttributes | AccessMask.Synchronize;
    private const ShareAccess ShareAll = ShareAccess.Read | ShareAccess.Write | ShareAccess.Delete;

    /// <summary>READ data this client's connections put straight into local files, past the response buffers (tests, diagnostics).</summary>
    internal long BytesReadIntoFiles => Pool.BytesReadIntoFiles;

    /// <summary>WRITE data this client's connections sent straight from local files, past user memory (tests, diagnostics).</summary>
    internal long BytesSentFromFiles => Pool.BytesSentFromFiles;

    private ConnectionPool Pool
    {
        get
        {
            if (!ReferenceEquals(_owner, this))
            {
                return _owner.Pool;
            }
            lock (_poolLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _pool ??= new ConnectionPool(Options, Options.LoggerFactory ?? NullLoggerFactory.Instance, this);
            }
        }
    }

    /// <summary>
    /// This client's hard/soft setting and time limit (read from <see cref="Options"/> at each call), as the session
    /// layer takes them: each call leases its tree with them, and the opens, streams and listings made through the
    /// lease keep them. The pool begins the call's deadline when it leases the tree.
    /// </summary>
    private CallOptions CallOptions => new(Options.FailureMode, Options.SoftTimeout, Options.OperationTimeout);

    private bool _disposed;

    /// <summary>Leases the session-layer tree for a location (tests and advanced internal callers).</summary>
    internal Task<TreeLease> AcquireTreeAsync(SmbPath path, CancellationToken cancellationToken) => Pool.AcquireTreeAsync(path, CallOptions, cancellationToken);

    /// <summary>Number of pooled connections (diagnostics).</summary>
    internal int PooledConnectionCount => _owner._pool?.Count ?? 0;

    private static void RequireShare(SmbPath path)
    {
        if (path.Share.Length == 0)
        {
            throw new ArgumentException($"'{path}' names no share.", nameof(path));
        }
    }

    private static void RequireFilePath(SmbPath path)
    {
        RequireShare(path);
        if (path.Path.Length == 0)
        {
            throw new ArgumentException($"'{path}' names a share, not a file.", nameof(path));
        }
    }

    /// <summary>
    /// Leases the tree that holds <paramref name="path"/>, opens it with <paramref name="request"/> (made for the path on that
    /// tree), runs <paramref name="action"/>, closes.
    /// </summary>
    private Task<T> WithOpenAsync<T>(SmbPath path, Func<SmbPath, CreateRequest> request, Func<SmbOpen, Task<T>> action, CancellationToken cancellationToken) =>
        OnShareAsync(path, async (lease, at) =>
        {
            using (lease)
            {
                var open = await lease.Tree.CreateAsync(request(at), lease.Call, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
                try
                {
                    var result = await action(open).ConfigureAwait(false);
                    await open.CloseAsync(cancellationToken).ConfigureAwait(false);
                    return result;
                }
                finally
                {
                    await open.DisposeAsync().ConfigureAwait(false);
                }
            }
        }, cancellationToken);

    /// <summary>Opens <paramref name="path"/> as <paramref name="request"/> makes it (for the path on the tree that holds it) and returns the open and its lease.</summary>
    internal Task<(TreeLease Lease, SmbOpen Open, SmbPath At)> OpenAsync(SmbPath path, Func<SmbPath, CreateRequest> request, HandleDurability durability,
        CancellationToken cancellationToken) =>
        OnShareAsync(path, async (lease, at) =>
        {
            try
            {
                var open = await lease.Tree.CreateAsync(request(at), lease.Call, durability, cancellationToken).ConfigureAwait(false);
                return (lease, open, at);
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }, cancellationToken);

    public Task<Stream> OpenReadAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.open_read", path, () => OpenReadCoreAsync(path, cancellationToken));

    private async Task<Stream> OpenReadCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        var (lease, open, _) = await OpenAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = ReadAccess,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = CreateOptions.NonDirectoryFile,
        }, Options.DurableHandles ? HandleDurability.Durable : HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
        return new SmbFileStream(open, lease, canRead: true, canWrite: false, Options);
    }

    public Task<Stream> OpenWriteAsync(SmbPath path, bool overwrite = true, CancellationToken cancellationToken = default) =>
        Traced("smb.open_write", path, () => OpenWriteCoreAsync(path, overwrite, cancellationToken));

    private async Task<Stream> OpenWriteCoreAsync(SmbPath path, bool overwrite, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        var (lease, open, _) = await OpenAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = WriteAccess,
            ShareAccess = ShareAccess.Read,
            CreateDisposition = overwrite ? CreateDisposition.OverwriteIf : CreateDisposition.Create,
            CreateOptions = CreateOptions.NonDirectoryFile,
            FileAttributes = FileAttributes.Normal,
        }, Options.DurableHandles ? HandleDurability.Durable : HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
        return new SmbFileStream(open, lease, canRead: true, canWrite: true, Options);
    }

    public async IAsyncEnumerable<SmbFileInfo> ListAsync(SmbPath path, string pattern = "*", [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The span covers the whole enumeration; an error from the server marks it failed. With nobody listening
        // there is no span, and the filter below lets every exception through untouched.
        using var activity = SmbInstruments.StartOperation("smb.list", path.Host, path.Port, path.Share, path.Path);
        var entries = ListCoreAsync(path, pattern, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (entries.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await entries.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (Exception e) when (SmbInstruments.Failed(activity, e))
                {
                    throw;
                }
                yield return entries.Current;
            }
        }
    }

    private async IAsyncEnumerable<SmbFileInfo> ListCoreAsync(SmbPath path, string pattern, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        RequireShare(path);
        // Each step of an async iterator runs in its caller's async flow; the call options travel with the lease
        // and the directory's open, so every step, whichever flow runs it, uses this client's.
        static CreateRequest DirectoryOpen(SmbPath at) => new(at.WirePath)
        {
            DesiredAccess = AccessMask.FileListDirectory | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = CreateOptions.DirectoryFile,
        };
        var (lease, first, at) = await OpenAsync(path, DirectoryOpen, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
        using var leased = lease;
        // Directory handles are not durable: when a reconnect loses one mid-listing, the listing opens the
        // directory again, restarts the scan and skips what it already returned (DESIGN §6).
        var returned = new ReturnedNames(ListingNameLimit);
        const int MaxRestarts = 5;
        for (var restarts = 0; ; restarts++)
        {
            var open = restarts == 0 ? first
                : await lease.Tree.CreateAsync(DirectoryOpen(at), lease.Call, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
            var finished = false;
            try
            {
                var bufferSize = Math.Min(ListingBufferSize, lease.Tree.Connection.Negotiated!.MaxTransactSize);
                for (var restart = true; ; restart = false)
                {
                    List<DirectoryEntry> entries;
                    try
                    {
                        entries = await open.QueryDirectoryAsync(pattern, bufferSize, restart ? QueryDirectoryFlags.RestartScans : 0, cancellationToken).ConfigureAwait(false);
                    }
                    catch (SmbHandleLostException lost) when (restarts < MaxRestarts)
                    {
                        if (!returned.Complete)
                        {
                            throw new SmbHandleLostException(
                                $"Listing '{path.Path}' lost its directory handle after more than {ListingNameLimit:N0} names, more than a restart can skip; " +
                                "it cannot go on without repeating names.", lost);
                        }
                        break;
                    }
                    if (entries.Count == 0)
                    {
                        finished = true;
                        break;
                    }
                    foreach (var e in entries)
                    {
                        if (e.IsDotEntry)
                        {
                            continue;
                        }
                        if (e.FileName.Length == 0 || e.FileName.AsSpan().IndexOfAny(ImpossibleInAName) >= 0)
                        {
                            // A path built from it would name another file, or none: a broken or hostile server.
                            throw new SmbProtocolException(
                                $"Listing '{path.Path}': the server returned the name \"{Printable(e.FileName)}\", which no file can have (empty, or with a NUL, '/' or '\\' in it).");
                        }
                        if (!returned.Add(e.FileName))
                        {
                            continue;
                        }
                        yield return new SmbFileInfo
                        {
                            Name = e.FileName,
                            Path = path.Path.Length == 0 ? e.FileName : path.Path + "/" + e.FileName,
                            Size = e.EndOfFile,
                            AllocationSize = e.AllocationSize,
                            Attributes = e.FileAttributes,
                            CreationTime = e.CreationTimeUtc,
                            LastAccessTime = e.LastAccessTimeUtc,
                            LastWriteTime = e.LastWriteTimeUtc,
                            ChangeTime = e.ChangeTimeUtc,
                        };
                    }
                }
                if (finished)
                {
                    await open.CloseAsync(cancellationToken).ConfigureAwait(false);
                    yield break;
                }
            }
            finally
            {
                // Also run when the caller stops early, by the enumerator's DisposeAsync.
                await open.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static readonly System.Buffers.SearchValues<char> ImpossibleInAName = System.Buffers.SearchValues.Create("\0/\\");

    /// <summary>A name for a message: control characters as \uXXXX escapes.</summary>
    private static string Printable(string name) =>
        string.Concat(name.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));

    /// <summary>One round trip: CREATE + QUERY_INFO (FileNetworkOpenInformation) + CLOSE as a related compound.</summary>
    public Task<SmbFileInfo> GetInfoAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.get_info", path, () => GetInfoCoreAsync(path, cancellationToken));

    private async Task<SmbFileInfo> GetInfoCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireShare(path);
        return await OnShareAsync(path, async (lease, at) =>
        {
            using (lease)
            {
                return await GetInfoOnShareAsync(lease, path, at, cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<SmbFileInfo> GetInfoOnShareAsync(TreeLease lease, SmbPath path, SmbPath at, CancellationToken cancellationToken)
    {
        using var responses = await lease.Tree.CreateCompoundAsync(new CreateRequest(at.WirePath)
        {
            DesiredAccess = AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
        }, [QueryInfoRequest.ForFile(Smb2FileId.Related, FileInformationClass.FileNetworkOpenInformation, FileNetworkOpenInformation.Size)],
            lease.Call, cancellationToken).ConfigureAwait(false);
        responses.ThrowIfAnyFailed($"Querying information of '{path.Path}'");
        // A successful answer that does not read drops its link (SmbResponse.Parse), as the replay loop's do.
        var query = responses[1].Parse(QueryInfoResponse.Parse);
        var r = responses[1].Parse(m => FileNetworkOpenInformation.Parse(m[query.OutputBufferRange]));
        return new SmbFileInfo
        {
            Name = path.Name,
            Path = path.Path,
            Size = r.EndOfFile,
            AllocationSize = r.AllocationSize,
            Attributes = r.FileAttributes,
            CreationTime = FileTime.ToDateTimeOffset(r.CreationTime),
            LastAccessTime = FileTime.ToDateTimeOffset(r.LastAccessTime),
            LastWriteTime = FileTime.ToDateTimeOffset(r.LastWriteTime),
            ChangeTime = FileTime.ToDateTimeOffset(r.ChangeTime),
        };
    }

    /// <summary>
    /// CREATE + <paramref name="middle"/> + CLOSE in one round trip, on the tree that holds <paramref name="path"/> (both made
    /// for the path on that tree); throws the first member's error.
    /// </summary>
    private Task CompoundAsync(SmbPath path, Func<SmbPath, CreateRequest> create, Func<SmbPath, ISmb2Request>? middle, string what,
        CancellationToken cancellationToken, ReplayRule rule = ReplayRule.Always) =>
        OnShareAsync(path, async (lease, at) =>
        {
            using (lease)
            {
                using var responses = await lease.Tree.CreateCompoundAsync(create(at), middle is null ? [] : [middle(at)], lease.Call,
                    cancellationToken, rule).ConfigureAwait(false);
                responses.ThrowIfAnyFailed(what);
                return true;
            }
        }, cancellationToken);

    public Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.delete_file", path, () => DeleteAsync(path, CreateOptions.NonDirectoryFile, cancellationToken));

    public Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.delete_directory", path, () => DeleteAsync(path, CreateOptions.DirectoryFile, cancellationToken));

    private Task DeleteAsync(SmbPath path, CreateOptions kind, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        return CompoundAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = AccessMask.Delete | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = kind,
        }, _ => SetInfoRequest.ForFile(Smb2FileId.Related, FileInformationClass.FileDispositionInformation, FileInfoBuilders.Disposition(true)),
            $"Deleting '{path.Path}'", cancellationToken, ReplayRule.Never);
    }

    public Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.create_directory", path, () => CreateDirectoryCoreAsync(path, cancellationToken));

    private Task CreateDirectoryCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        return CompoundAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Create,
            CreateOptions = CreateOptions.DirectoryFile,
            FileAttributes = FileAttributes.Directory,
        }, null, $"Creating directory '{path.Path}'", cancellationToken, ReplayRule.Never);
    }

    public Task RenameAsync(SmbPath path, string newPath, bool replaceIfExists = false, CancellationToken cancellationToken = default) =>
        Traced("smb.rename", path, () => RenameCoreAsync(path, newPath, replaceIfExists, cancellationToken));

    private Task RenameCoreAsync(SmbPath path, string newPath, bool replaceIfExists, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        ArgumentException.ThrowIfNullOrEmpty(newPath);
        SmbPath target;
        if (newPath.StartsWith("smb://", StringComparison.OrdinalIgnoreCase) || newPath.StartsWith(@"\\", StringComparison.Ordinal))
        {
            target = SmbPath.Parse(newPath);
            if (!string.Equals(target.Host, path.Host, StringComparison.OrdinalIgnoreCase) || target.Port != path.Port
                || !string.Equals(target.Share, path.Share, StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"A rename stays on one share: '{target}' is not on '{path.WithPath("")}'.", nameof(newPath));
            }
        }
        else
        {
            target = path.WithPath(newPath);
        }
        if (target.Path.Length == 0)
        {
            throw new ArgumentException("The new name is empty.", nameof(newPath));
        }
        return CompoundAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = AccessMask.Delete | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
        }, at => SetInfoRequest.ForFile(Smb2FileId.Related, FileInformationClass.FileRenameInformation,
            FileInfoBuilders.Rename(RenameTargetOnShare(path, at, target), replaceIfExists)),
            $"Renaming '{path.Path}' to '{target.Path}'", cancellationToken, ReplayRule.Never);
    }

    /// <summary>
    /// The new name of a rename as the tree that holds the file takes it: through DFS, <paramref name="target"/> rewritten
    /// by the same referrals, which must lead to that tree too.
    /// </summary>
    private string RenameTargetOnShare(SmbPath path, SmbPath at, SmbPath target)
    {
        if (ReferenceEquals(at, path))
        {
            return target.WirePath;
        }
        var moved = Dfs.RewriteCached(target);
        if (!string.Equals(moved.Host, at.Host, StringComparison.OrdinalIgnoreCase) || moved.Port != at.Port
            || !string.Equals(moved.Share, at.Share, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"A rename stays on one share: through DFS, '{path.ToUnc()}' is on {at.WithPath("").ToUnc()} " +
                $"and '{target.ToUnc()}' on {moved.WithPath("").ToUnc()}.", nameof(target));
        }
        return moved.WirePath;
    }

    public Task<long> UploadAsync(Stream source, SmbPath path, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        Traced("smb.upload", path, () => UploadCoreAsync(source, path, progress, cancellationToken));

    private async Task<long> UploadCoreAsync(Stream source, SmbPath path, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        RequireFilePath(path);
        if (source.CanSeek && source.Length - source.Position <= SmallFileLimit)
        {
            var written = await TryUploadSmallAsync(source, path, cancellationToken).ConfigureAwait(false);
            if (written >= 0)
            {
                progress?.Report(written);
                return written;
            }
        }
        await using var destination = (SmbFileStream)await OpenWriteAsync(path, overwrite: true, cancellationToken).ConfigureAwait(false);
        var total = await destination.CopyFromAsync(source, progress, cancellationToken).ConfigureAwait(false);
        await destination.CloseAsync(cancellationToken).ConfigureAwait(false);
        return total;
    }

    /// <summary>
    /// Downloads a file. The first READ goes out compounded with the CREATE and a CLOSE, so a
    /// small file takes one round trip; a larger one is then opened again and streamed from where
    /// that READ stopped, with several large READs in flight.
    /// </summary>
    public Task<long> DownloadAsync(SmbPath path, Stream destination, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        Traced("smb.download", path, () => DownloadCoreAsync(path, destination, progress, sizeHint: -1, cancellationToken));

    /// <summary>
    /// Downloads a file into the local path <paramref name="localPath"/> without destroying what it names: a regular
    /// file is replaced atomically (temporary file, then rename) and keeps its mode; a device, FIFO or socket is
    /// written straight into; a symbolic link's target is written and the link stays.
    /// </summary>
    public Task<long> DownloadFileAsync(SmbPath path, string localPath, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        Traced("smb.download", path, () => LocalFileTarget.WriteAsync(localPath,
            (destination, ct) => DownloadCoreAsync(path, destination, progress, sizeHint: -1, ct), cancellationToken));

    /// <param name="sizeHint">The size a listing reported (-1: unknown); the first READ asks for no more, so the server allocates no more.</param>
    private async Task<long> DownloadCoreAsync(SmbPath path, Stream destination, IProgress<long>? progress, long sizeHint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        RequireFilePath(path);
        int first;
        int asked;
        long size;
        (first, asked, size) = await OnShareAsync(path, async (lease, at) =>
        {
            using (lease)
            {
                var ask = Math.Min(SmallFileLimit, lease.Tree.CompoundPayloadLimit(otherMembers: 2));
                if (sizeHint >= 0)
                {
                    // A file that grew since it was listed comes back short of its end and is streamed on below.
                    ask = (int)Math.Min(ask, Math.Max(sizeHint, 1));
                }
                using var responses = await lease.Tree.CreateCompoundAsync(ReadOpenRequest(at),
                    [new ReadRequest(Smb2FileId.Related, 0, ask)], lease.Call, cancellationToken).ConfigureAwait(false);
                var end = responses.Create.EndOfFile;
                using var data = ReadDataOf(responses[1], ask, $"Reading '{path.Path}' at offset 0");
                if (data.Length > 0)
                {
                    await destination.WriteAsync(data.Data, cancellationToken).ConfigureAwait(false);
                }
                return (data.Length, ask, end);
            }
        }, cancellationToken).ConfigureAwait(false);
        progress?.Report(first);
        if (first < asked || size <= first)
        {
            return first;
        }
        await using var source = (SmbFileStream)await OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        source.Position = first;
        var rest = await source.CopyToAsync(destination, progress is null ? null : new OffsetProgress(progress, first), cancellationToken).ConfigureAwait(false);
        return first + rest;
    }

    /// <summary>Files up to this size are read or written in one compound (CREATE + READ/WRITE + CLOSE).</summary>
    private const int SmallFileLimit = 1024 * 1024;

    private static CreateRequest ReadOpenRequest(SmbPath path) => new(path.WirePath)
    {
        DesiredAccess = ReadAccess,
        ShareAccess = ShareAll,
        CreateDisposition = CreateDisposition.Open,
        CreateOptions = CreateOptions.NonDirectoryFile,
    };

    /// <summary>A compound's READ answer as data; one that does not read drops its link (SmbResponse.ReportUnreadable), as in the replay loop.</summary>
    private static ReadData ReadDataOf(Transport.SmbResponse response, int asked, string what)
    {
        try
        {
            return SmbOpen.ToReadData(response, asked, what);
        }
        catch (SmbProtocolException unreadable)
        {
            response.ReportUnreadable(unreadable);
            throw;
        }
    }

    /// <summary>CREATE (overwrite) + WRITE + CLOSE in one round trip; -1 when the data does not fit one compound.</summary>
    private Task<long> TryUploadSmallAsync(Stream source, SmbPath path, CancellationToken cancellationToken) =>
        OnShareAsync(path, async (lease, at) =>
        {
            using (lease)
            {
                return await TryUploadSmallOnShareAsync(lease, source, path, at, cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken);

    private static async Task<long> TryUploadSmallOnShareAsync(TreeLease lease, Stream source, SmbPath path, SmbPath at, CancellationToken cancellationToken)
    {
        var length = (int)(source.Length - source.Position);
        if (length > lease.Tree.CompoundPayloadLimit(otherMembers: 2))
        {
            return -1;
        }
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            var n = await source.ReadAtLeastAsync(buffer.AsMemory(0, length), length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            ISmb2Request[] middle = n == 0 ? [] : [new WriteRequest(Smb2FileId.Related, 0, buffer.AsMemory(0, n))];
            using var responses = await lease.Tree.CreateCompoundAsync(new CreateRequest(at.WirePath)
            {
                DesiredAccess = WriteAccess,
                ShareAccess = ShareAccess.Read,
                CreateDisposition = CreateDisposition.OverwriteIf,
                CreateOptions = CreateOptions.NonDirectoryFile,
                FileAttributes = FileAttributes.Normal,
            }, middle, lease.Call, cancellationToken).ConfigureAwait(false);
            responses.ThrowIfAnyFailed($"Writing '{path.Path}'");
            if (n > 0 && responses[1].Parse(WriteResponse.Parse).Count is var taken && taken != (uint)n)
            {
                throw new IOException($"The server took {taken} of {n} bytes written to '{path.Path}'; the file is incomplete.");
            }
            return n;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private sealed class OffsetProgress(IProgress<long> inner, long offset) : IProgress<long>
    {
        public void Report(long value) => inner.Report(offset + value);
    }

    public Task SetTimesAsync(SmbPath path, DateTimeOffset? creationTime = null, DateTimeOffset? lastAccessTime = null,
        DateTimeOffset? lastWriteTime = null, CancellationToken cancellationToken = default) =>
        Traced("smb.set_times", path, () => SetTimesCoreAsync(path, creationTime, lastAccessTime, lastWriteTime, cancellationToken));

    private Task SetTimesCoreAsync(SmbPath path, DateTimeOffset? creationTime, DateTimeOffset? lastAccessTime,
        DateTimeOffset? lastWriteTime, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        // MS-FSCC §2.4.7: a zero time (and zero attributes) in FileBasicInformation leaves the value unchanged.
        var info = new FileBasicInformation(
            creationTime is { } c ? FileTime.FromDateTimeOffset(c) : 0,
            lastAccessTime is { } a ? FileTime.FromDateTimeOffset(a) : 0,
            lastWriteTime is { } w ? FileTime.FromDateTimeOffset(w) : 0,
            0,
            0);
        return SetInfoAsync(path, AccessMask.FileWriteAttributes, CreateOptions.None, FileInformationClass.FileBasicInformation,
            FileInfoBuilders.Basic(info), $"Setting the times of '{path.Path}'", cancellationToken);
    }

    /// <summary>Sets a file's size (FileEndOfFileInformation): truncates or extends it.</summary>
    internal Task SetEndOfFileAsync(SmbPath path, long size, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        return SetInfoAsync(path, AccessMask.FileWriteData, CreateOptions.NonDirectoryFile, FileInformationClass.FileEndOfFileInformation,
            FileInfoBuilders.EndOfFile(size), $"Setting the size of '{path.Path}' to {size}", cancellationToken);
    }

    /// <summary>Opens <paramref name="path"/> with <paramref name="access"/> (and the right to read attributes), sets one information class, closes.</summary>
    private Task SetInfoAsync(SmbPath path, AccessMask access, CreateOptions options, FileInformationClass infoClass, byte[] buffer, string what,
        CancellationToken cancellationToken) =>
        WithOpenAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = access | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = options,
        }, async open =>
        {
            await open.SetInfoAsync(infoClass, buffer, what, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<SmbFileSystemInfo> GetFileSystemInfoAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.get_file_system_info", path, () => GetFileSystemInfoCoreAsync(path, cancellationToken));

    private Task<SmbFileSystemInfo> GetFileSystemInfoCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireShare(path);
        // The file system of the path itself (a file or directory): through a DFS link, the target's.
        return WithOpenAsync(path, at => new CreateRequest(at.WirePath)
        {
            DesiredAccess = AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = at.Path.Length == 0 ? CreateOptions.DirectoryFile : 0,
        }, open => open.QueryInfoAsync(
            id => QueryInfoRequest.ForFileSystem(id, FsInformationClass.FileFsFullSizeInformation, FileFsFullSizeInformation.Size),
            buffer =>
            {
                var info = FileFsFullSizeInformation.Parse(buffer);
                var unit = info.BytesPerAllocationUnit;
                return new SmbFileSystemInfo(info.TotalAllocationUnits * unit, info.CallerAvailableAllocationUnits * unit,
                    (int)info.BytesPerSector, (int)info.SectorsPerAllocationUnit);
            }, cancellationToken), cancellationToken);
    }

    public async Task<SmbDialect> GetDialectAsync(SmbPath path, CancellationToken cancellationToken = default)
    {
        RequireShare(path);
        return await OnShareAsync(path, (lease, _) =>
        {
            using (lease)
            {
                return Task.FromResult(lease.Tree.Connection.Negotiated!.Dialect);
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes every pooled connection (trees disconnected, sessions logged off).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!ReferenceEquals(_owner, this))
        {
            return; // a view made by WithFailureMode owns nothing
        }
        ConnectionPool? pool;
        lock (_poolLock)
        {
            _disposed = true;
            pool = _pool;
            _pool = null;
        }
        if (pool is not null)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
    }
}

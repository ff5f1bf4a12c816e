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

    /// <summary>Leases the tree, opens <paramref name="path"/> with <paramref name="request"/>, runs <paramref name="action"/>, closes.</summary>
    private async Task<T> WithOpenAsync<T>(SmbPath path, CreateRequest request, Func<SmbOpen, Task<T>> action, CancellationToken cancellationToken)
    {
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        var open = await lease.Tree.CreateAsync(request, lease.Call, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
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

    public Task<Stream> OpenReadAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.open_read", path, () => OpenReadCoreAsync(path, cancellationToken));

    private async Task<Stream> OpenReadCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        try
        {
            var open = await lease.Tree.CreateAsync(new CreateRequest(path.WirePath)
            {
                DesiredAccess = ReadAccess,
                ShareAccess = ShareAll,
                CreateDisposition = CreateDisposition.Open,
                CreateOptions = CreateOptions.NonDirectoryFile,
            }, lease.Call, Options.DurableHandles ? HandleDurability.Durable : HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
            return new SmbFileStream(open, lease, canRead: true, canWrite: false, Options);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    public Task<Stream> OpenWriteAsync(SmbPath path, bool overwrite = true, CancellationToken cancellationToken = default) =>
        Traced("smb.open_write", path, () => OpenWriteCoreAsync(path, overwrite, cancellationToken));

    private async Task<Stream> OpenWriteCoreAsync(SmbPath path, bool overwrite, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        try
        {
            var open = await lease.Tree.CreateAsync(new CreateRequest(path.WirePath)
            {
                DesiredAccess = WriteAccess,
                ShareAccess = ShareAccess.Read,
                CreateDisposition = overwrite ? CreateDisposition.OverwriteIf : CreateDisposition.Create,
                CreateOptions = CreateOptions.NonDirectoryFile,
                FileAttributes = FileAttributes.Normal,
            }, lease.Call, Options.DurableHandles ? HandleDurability.Durable : HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
            return new SmbFileStream(open, lease, canRead: true, canWrite: true, Options);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
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
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        // Directory handles are not durable: when a reconnect loses one mid-listing, the listing opens the
        // directory again, restarts the scan and skips what it already returned (DESIGN §6).
        var returned = new ReturnedNames(ListingNameLimit);
        const int MaxRestarts = 5;
        for (var restarts = 0; ; restarts++)
        {
            var open = await lease.Tree.CreateAsync(new CreateRequest(path.WirePath)
            {
                DesiredAccess = AccessMask.FileListDirectory | AccessMask.FileReadAttributes | AccessMask.Synchronize,
                ShareAccess = ShareAll,
                CreateDisposition = CreateDisposition.Open,
                CreateOptions = CreateOptions.DirectoryFile,
            }, lease.Call, HandleDurability.Plain, cancellationToken).ConfigureAwait(false);
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
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        using var responses = await lease.Tree.CreateCompoundAsync(new CreateRequest(path.WirePath)
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

    /// <summary>CREATE + <paramref name="middle"/> + CLOSE in one round trip; throws the first member's error.</summary>
    private async Task CompoundAsync(SmbPath path, CreateRequest create, ISmb2Request? middle, string what, CancellationToken cancellationToken,
        ReplayRule rule = ReplayRule.Always)
    {
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        using var responses = await lease.Tree.CreateCompoundAsync(create, middle is null ? [] : [middle], lease.Call, cancellationToken, rule).ConfigureAwait(false);
        responses.ThrowIfAnyFailed(what);
    }

    public Task DeleteFileAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.delete_file", path, () => DeleteAsync(path, CreateOptions.NonDirectoryFile, cancellationToken));

    public Task DeleteDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.delete_directory", path, () => DeleteAsync(path, CreateOptions.DirectoryFile, cancellationToken));

    private Task DeleteAsync(SmbPath path, CreateOptions kind, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        return CompoundAsync(path, new CreateRequest(path.WirePath)
        {
            DesiredAccess = AccessMask.Delete | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = kind,
        }, SetInfoRequest.ForFile(Smb2FileId.Related, FileInformationClass.FileDispositionInformation, FileInfoBuilders.Disposition(true)),
            $"Deleting '{path.Path}'", cancellationToken, ReplayRule.Never);
    }

    public Task CreateDirectoryAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.create_directory", path, () => CreateDirectoryCoreAsync(path, cancellationToken));

    private Task CreateDirectoryCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireFilePath(path);
        return CompoundAsync(path, new CreateRequest(path.WirePath)
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
        return CompoundAsync(path, new CreateRequest(path.WirePath)
        {
            DesiredAccess = AccessMask.Delete | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
        }, SetInfoRequest.ForFile(Smb2FileId.Related, FileInformationClass.FileRenameInformation, FileInfoBuilders.Rename(target.WirePath, replaceIfExists)),
            $"Renaming '{path.Path}' to '{target.Path}'", cancellationToken, ReplayRule.Never);
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
        using (var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false))
        {
            asked = Math.Min(SmallFileLimit, lease.Tree.CompoundPayloadLimit(otherMembers: 2));
            if (sizeHint >= 0)
            {
                // A file that grew since it was listed comes back short of its end and is streamed on below.
                asked = (int)Math.Min(asked, Math.Max(sizeHint, 1));
            }
            using var responses = await lease.Tree.CreateCompoundAsync(ReadOpenRequest(path),
                [new ReadRequest(Smb2FileId.Related, 0, asked)], lease.Call, cancellationToken).ConfigureAwait(false);
            size = responses.Create.EndOfFile;
            using var data = ReadDataOf(responses[1], asked, $"Reading '{path.Path}' at offset 0");
            first = data.Length;
            if (first > 0)
            {
                await destination.WriteAsync(data.Data, cancellationToken).ConfigureAwait(false);
            }
        }
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
    private async Task<long> TryUploadSmallAsync(Stream source, SmbPath path, CancellationToken cancellationToken)
    {
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
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
            using var responses = await lease.Tree.CreateCompoundAsync(new CreateRequest(path.WirePath)
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
        return WithOpenAsync(path, new CreateRequest(path.WirePath)
        {
            DesiredAccess = AccessMask.FileWriteAttributes | AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
        }, async open =>
        {
            await open.SetInfoAsync(FileInformationClass.FileBasicInformation, FileInfoBuilders.Basic(info),
                $"Setting the times of '{path.Path}'", cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task<SmbFileSystemInfo> GetFileSystemInfoAsync(SmbPath path, CancellationToken cancellationToken = default) =>
        Traced("smb.get_file_system_info", path, () => GetFileSystemInfoCoreAsync(path, cancellationToken));

    private Task<SmbFileSystemInfo> GetFileSystemInfoCoreAsync(SmbPath path, CancellationToken cancellationToken)
    {
        RequireShare(path);
        return WithOpenAsync(path.WithPath(""), new CreateRequest("")
        {
            DesiredAccess = AccessMask.FileReadAttributes | AccessMask.Synchronize,
            ShareAccess = ShareAll,
            CreateDisposition = CreateDisposition.Open,
            CreateOptions = CreateOptions.DirectoryFile,
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
        using var lease = await Pool.AcquireTreeAsync(path, CallOptions, cancellationToken).ConfigureAwait(false);
        return lease.Tree.Connection.Negotiated!.Dialect;
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

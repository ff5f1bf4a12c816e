using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// An open handle on a tree (MS-SMB2 Open) and the I/O on it. Every operation runs through the
/// <see cref="Replayer"/>, so it survives a reconnect when the handle is reclaimed; once the handle
/// is lost, every later call fails with <see cref="SmbHandleLostException"/>. Every operation runs under
/// the <see cref="CallOptions"/> the open was created with.
/// </summary>
internal sealed class SmbOpen : IAsyncDisposable
{
    private Smb2FileId _fileId;
    private string? _lostReason;
    private int _closed;
    private int _epoch;
    private int _claimedEpoch;

    /// <summary>How a closed handle's CLOSE goes (<see cref="_closed"/>).</summary>
    private const int Open = 0, Closing = 1, LetGo = 2;

    /// <summary>Not null while the handle waits for its reclaim after a reconnect (its users wait for it too).</summary>
    private TaskCompletionSource? _reclaim;

    public SmbOpen(SmbTree tree, CreateRequest template, CreateResponse response, DurableState durable, CallOptions call, int epoch, string? name = null)
    {
        Tree = tree;
        _epoch = epoch;
        _claimedEpoch = epoch;
        Call = call.ForLaterCalls();
        Template = template;
        Name = name ?? template.Name; // the share-relative name, where the template's is a DFS path name
        _fileId = response.FileId;
        CreateResponse = response;
        EndOfFile = response.EndOfFile;
        Durable = durable;
        LeaseKey = response.Lease?.LeaseKey;
        if (response.OplockLevel != OplockLevel.None)
        {
            Tree.Breaks?.Track(this);
        }
    }

    public SmbTree Tree { get; }
    public string Name { get; }

    /// <summary>What the operations on this handle do while the connection is down.</summary>
    public CallOptions Call { get; }

    /// <summary>The CREATE this open came from (a reclaim repeats it with a reconnect context).</summary>
    public CreateRequest Template { get; }

    /// <summary>The handle; a reclaim after a reconnect may change it.</summary>
    public Smb2FileId FileId => _fileId;

    public CreateResponse CreateResponse { get; }
    public DurableState Durable { get; }
    public bool IsDirectory => (CreateResponse.FileAttributes & FileAttributes.Directory) != 0;

    /// <summary>File size at open time.</summary>
    public long EndOfFile { get; }

    /// <summary>Lease key when the server granted a lease.</summary>
    public Guid? LeaseKey { get; }

    /// <summary>Status of the last break acknowledgment (diagnostics and tests).</summary>
    public NtStatus? LastBreakAcknowledgment { get; private set; }

    /// <summary>Successful reclaims after reconnects (diagnostics and tests).</summary>
    public int ReclaimCount { get; private set; }

    public bool IsClosed => Volatile.Read(ref _closed) != Open;

    /// <summary>
    /// The tree's handle epoch (<see cref="SmbTree.HandleEpoch"/>) its FileId belongs to: the one its CREATE, or its last
    /// reclaim, was sent in. A recovery of a later epoch reclaims it.
    /// </summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>
    /// Takes the reclaim for <paramref name="epoch"/>: true for exactly one caller (the recovery, or a CREATE that
    /// finished just after the recovery looked for handles); the others wait on <see cref="ReclaimPending"/>.
    /// </summary>
    public bool TryClaimReclaim(int epoch)
    {
        while (true)
        {
            var claimed = Volatile.Read(ref _claimedEpoch);
            if (claimed >= epoch)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _claimedEpoch, epoch, claimed) == claimed)
            {
                return true;
            }
        }
    }

    /// <summary>Closed by a Dispose that did not see its CLOSE answered: a recovery reclaims it only to close it.</summary>
    public bool IsLetGo => Volatile.Read(ref _closed) == LetGo;

    public bool IsLost => Volatile.Read(ref _lostReason) is not null;

    /// <summary>
    /// While the handle waits to be reclaimed after a reconnect: a task that ends once it is back, lost or closed. The
    /// connection is Ready before every handle is back (recovery that scales); only this handle's users wait.
    /// </summary>
    public Task? ReclaimPending => Volatile.Read(ref _reclaim)?.Task;

    /// <summary>
    /// The connection is coming back: a durable handle's users wait until it is reclaimed (or lost). Any other handle is
    /// lost at once, before the connection is Ready (a request on it would meet FILE_CLOSED): returns why, else null.
    /// </summary>
    public string? AwaitReclaim()
    {
        if (IsLost)
        {
            return null;
        }
        if (!Durable.IsDurable)
        {
            var why = IsDirectory ? "directory handles are not durable" : "the server did not grant a durable handle";
            MarkLost($"the connection was lost and {why}");
            return _lostReason;
        }
        Interlocked.CompareExchange(ref _reclaim, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        return null;
    }

    private void EndReclaimWait() => Interlocked.Exchange(ref _reclaim, null)?.TrySetResult();

    internal void OnBreakAcknowledged(NtStatus status) => LastBreakAcknowledgment = status;

    private SmbConnection Connection => Tree.Connection;

    /// <summary>Largest single READ this connection allows.</summary>
    public int MaxReadSize => Connection.Negotiated!.SupportsLargeMtu ? Connection.Negotiated.MaxReadSize : Math.Min(65536, Connection.Negotiated.MaxReadSize);

    /// <summary>Largest single WRITE this connection allows.</summary>
    public int MaxWriteSize => Connection.Negotiated!.SupportsLargeMtu ? Connection.Negotiated.MaxWriteSize : Math.Min(65536, Connection.Negotiated.MaxWriteSize);

    public void MarkLost(string reason)
    {
        if (Interlocked.CompareExchange(ref _lostReason, reason, null) is null)
        {
            Tree.Breaks?.Untrack(this);
        }
        EndReclaimWait();
    }

    public void ThrowIfLost(string what)
    {
        if (Volatile.Read(ref _lostReason) is { } reason)
        {
            throw new SmbHandleLostException($"{what}: the handle to '{Name}' on share '{Tree.Share}' was lost ({reason})");
        }
    }

    /// <summary>
    /// After a reconnect: CREATE with the durable reconnect context (DH2C on 3.x, DHnC before), bounded by
    /// <paramref name="stepTimeout"/>. Returns null when the handle is back (or closed meanwhile), or why it is lost. A
    /// connection lost again meanwhile throws <see cref="SmbConnectionException"/>: the handle still waits, and the next
    /// recovery reclaims it.
    /// </summary>
    public async Task<string?> ReclaimAsync(ReclaimRetryBudget budget, TimeSpan stepTimeout, CancellationToken cancellationToken)
    {
        if (IsLost)
        {
            EndReclaimWait();
            return null;
        }
        if (!Durable.IsDurable)
        {
            var why = IsDirectory ? "directory handles are not durable" : "the server did not grant a durable handle";
            MarkLost($"the connection was lost and {why}");
            return _lostReason;
        }
        using var step = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        step.CancelAfter(stepTimeout);
        try
        {
            var request = OpenDurability.Reconnect(Template, FileId, Durable);
            var epoch = Tree.HandleEpoch;
            var backoff = budget.ForHandle();
            // The server may still be tearing down the old connection (it only now learns it is gone, e.g.
            // after a black-hole ended): until it has disconnected the durable open it answers NOT_FOUND or
            // FILE_NOT_AVAILABLE. Try again while the recovery's shared budget lasts before calling it lost.
            while (true)
            {
                using var response = await Connection.SendAsync(request, Tree.ContextFor(this, replay: false, duringSetup: true), step.Token).ConfigureAwait(false);
                if (response.Status == NtStatus.Success)
                {
                    var parsed = CreateResponse.Parse(response.Message);
                    _fileId = parsed.FileId;
                    Volatile.Write(ref _epoch, epoch);
                    ReclaimCount++;
                    EndReclaimWait();
                    if (IsLetGo)
                    {
                        // Let go by a Dispose whose CLOSE the loss cut off (or that found no connection): the server
                        // kept it as a disconnected durable handle, and now has it open again. Close it; a CLOSE
                        // replayed by CloseAsync (Closing) goes on the reclaimed handle by itself.
                        await CloseLetGoAsync(duringSetup: true).ConfigureAwait(false);
                    }
                    return null;
                }
                var delay = response.Status is NtStatus.ObjectNameNotFound or NtStatus.FileNotAvailable ? backoff.NextDelay() : null;
                if (delay is null)
                {
                    MarkLost($"the server refused to reclaim the durable handle: {NtStatusText.Describe(response.Status)}");
                    return _lostReason;
                }
                Tree.Logger.ReclaimTryAgain(Name, NtStatusText.Describe(response.Status), (long)delay.Value.TotalMilliseconds);
                await Task.Delay(delay.Value, step.Token).ConfigureAwait(false);
            }
        }
        catch (SmbProtocolException ex)
        {
            MarkLost($"reclaiming the durable handle failed: {ex.Message}");
            return _lostReason;
        }
        catch (OperationCanceledException) when (step.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            MarkLost($"the server did not answer its reclaim within {stepTimeout.TotalSeconds:0.#} s");
            return _lostReason;
        }
    }


    /// <summary>
    /// Reads up to <paramref name="length"/> bytes at <paramref name="offset"/> and hands over the
    /// response buffer itself (no copy): the caller owns the result and disposes it once done
    /// with <see cref="ReadData.Data"/>. End of file is an empty result.
    /// </summary>
    /// <summary>
    /// Reads up to <paramref name="length"/> bytes at <paramref name="offset"/>. With a
    /// <paramref name="sink"/>, the transport may put the data straight into the sink's file; the result
    /// then says so (<see cref="ReadData.InFile"/>) and holds no bytes.
    /// </summary>
    public Task<ReadData> ReadBufferAsync(long offset, int length, CancellationToken cancellationToken, FileSink? sink = null)
    {
        ThrowIfClosed();
        var what = $"Reading '{Name}' at offset {offset}";
        return Replayer.RunAsync(new ReplayRequest<ReadData>(this, ReplayRule.Always, what)
        {
            Build = _ => new ReadRequest(FileId, offset, length),
            Complete = response => ToReadData(response, length, what, sink),
            CompleteOwnsResponse = true,
            Sink = sink,
        }, cancellationToken);
    }

    /// <summary>Checks a READ response and wraps its data; takes ownership of <paramref name="response"/> on success.</summary>
    internal static ReadData ToReadData(SmbResponse response, int requested, string what, FileSink? sink = null)
    {
        if (response.Status == NtStatus.EndOfFile)
        {
            response.Dispose();
            return default;
        }
        response.ThrowIfFailed(what);
        if (sink is { Delivered: true })
        {
            // The reader spliced the data into the file; the response is the header alone.
            response.Dispose();
            return sink.WriteError is { } failed ? throw failed : new ReadData(null, 0, sink.Length, inFile: true);
        }
        var parsed = ReadResponse.Parse(response.Message);
        if (parsed.DataLength > requested)
        {
            throw new SmbProtocolException($"READ returned {parsed.DataLength} bytes for a request of {requested}.");
        }
        return new ReadData(response, parsed.DataOffset, parsed.DataLength);
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/> in one request; returns the count the server took.</summary>
    public Task<int> WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        WriteCoreAsync(offset, data.Length, () => new WriteRequest(FileId, offset, data), cancellationToken);

    /// <summary>
    /// Writes a local file's bytes at <paramref name="offset"/> in one request: the transport sends them
    /// straight from the file where it can (<see cref="FileRange"/>); returns the count the server took.
    /// </summary>
    public Task<int> WriteAsync(long offset, FileRange data, CancellationToken cancellationToken) =>
        WriteCoreAsync(offset, data.Length, () => new WriteRequest(FileId, offset, data), cancellationToken);

    private Task<int> WriteCoreAsync(long offset, int length, Func<WriteRequest> build, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var what = $"Writing '{Name}' at offset {offset}";
        return Replayer.RunAsync(new ReplayRequest<int>(this, ReplayRule.OnReclaimedHandle, what)
        {
            Build = _ => build(),
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                var parsed = WriteResponse.Parse(response.Message);
                if (parsed.Count > length)
                {
                    throw new SmbProtocolException($"WRITE acknowledged {parsed.Count} bytes for a request of {length}.");
                }
                return (int)parsed.Count;
            },
        }, cancellationToken);
    }

    public Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var what = $"Flushing '{Name}'";
        return Replayer.RunAsync(new ReplayRequest<bool>(this, ReplayRule.OnReclaimedHandle, what)
        {
            Build = _ => new FlushRequest(FileId),
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                return true;
            },
        }, cancellationToken);
    }

    /// <summary>
    /// One QUERY_DIRECTORY round trip; returns the entries, or an empty list at the end
    /// (STATUS_NO_MORE_FILES). The first call should pass <see cref="QueryDirectoryFlags.RestartScans"/> in <paramref name="flags"/>.
    /// FileDirectoryInformation carries everything a listing reports (name, size, times,
    /// attributes) in 64 bytes plus the name; the Id/Both classes add 40 bytes an entry and make
    /// the server find a file id and an 8.3 name for each, which nothing here uses.
    /// </summary>
    public Task<List<DirectoryEntry>> QueryDirectoryAsync(string pattern, int outputBufferLength, QueryDirectoryFlags flags, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var what = $"Listing '{Name}'";
        return Replayer.RunAsync(new ReplayRequest<List<DirectoryEntry>>(this, ReplayRule.Always, what)
        {
            Build = _ => new QueryDirectoryRequest(FileId, pattern, FileInformationClass.FileDirectoryInformation, outputBufferLength)
            {
                Flags = flags,
            },
            Complete = response =>
            {
                // NO_MORE_FILES ends a listing; NO_SUCH_FILE on the first call means the pattern matched nothing.
                if (response.Status == NtStatus.NoMoreFiles || ((flags & QueryDirectoryFlags.RestartScans) != 0 && response.Status == NtStatus.NoSuchFile))
                {
                    return [];
                }
                response.ThrowIfFailed(what);
                var parsed = QueryDirectoryResponse.Parse(response.Message);
                return DirectoryEntryParser.Parse(response.Message[parsed.OutputBufferRange], FileInformationClass.FileDirectoryInformation);
            },
        }, cancellationToken);
    }

    /// <summary>
    /// FSCTL_PIPE_TRANSCEIVE on this named pipe: writes <paramref name="input"/> and reads the answer, up to
    /// <paramref name="maxOutput"/> bytes; More says the message did not fit (STATUS_BUFFER_OVERFLOW) and the rest waits
    /// in the pipe. Not repeated after a connection loss: a pipe's state does not survive one.
    /// </summary>
    public Task<(byte[] Data, bool More)> PipeTransceiveAsync(ReadOnlyMemory<byte> input, int maxOutput, CancellationToken cancellationToken) =>
        PipeRequestAsync($"Calling over pipe '{Name}'", () => new IoctlRequest(IoctlRequest.FsctlPipeTransceive, FileId, input, maxOutput),
            static message => IoctlResponse.Parse(message).OutputRange, maxOutput, cancellationToken);

    /// <summary>Reads what waits in this named pipe, up to <paramref name="length"/> bytes (More: the message goes on).</summary>
    public Task<(byte[] Data, bool More)> PipeReadAsync(int length, CancellationToken cancellationToken) =>
        PipeRequestAsync($"Reading pipe '{Name}'", () => new ReadRequest(FileId, 0, length), static message =>
        {
            var parsed = ReadResponse.Parse(message);
            return new Range(parsed.DataOffset, parsed.DataOffset + parsed.DataLength);
        }, length, cancellationToken);

    /// <summary>Where a response's data is.</summary>
    private delegate Range DataRange(ReadOnlySpan<byte> message);

    /// <summary>
    /// One request on this named pipe answered with data, at most <paramref name="limit"/> bytes; STATUS_BUFFER_OVERFLOW
    /// says more of the message waits. Not repeated after a connection loss: a pipe's state does not survive one.
    /// </summary>
    private Task<(byte[] Data, bool More)> PipeRequestAsync(string what, Func<ISmb2Request> build, DataRange data, int limit,
        CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        return Replayer.RunAsync(new ReplayRequest<(byte[], bool)>(this, ReplayRule.Never, what)
        {
            Build = _ => build(),
            Complete = response =>
            {
                var more = response.Status == NtStatus.BufferOverflow;
                if (!more)
                {
                    response.ThrowIfFailed(what);
                }
                var range = data(response.Message);
                var length = range.GetOffsetAndLength(response.Message.Length).Length;
                if (length > limit)
                {
                    throw new SmbProtocolException($"{what}: {length} bytes answered, {limit} allowed.");
                }
                return (response.Message[range].ToArray(), more);
            },
        }, cancellationToken);
    }

    /// <summary>QUERY_INFO; <paramref name="parse"/> reads the output buffer while the response is alive.</summary>
    public Task<T> QueryInfoAsync<T>(Func<Smb2FileId, QueryInfoRequest> request, Func<ReadOnlySpan<byte>, T> parse, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var what = $"Querying information of '{Name}'";
        return Replayer.RunAsync(new ReplayRequest<T>(this, ReplayRule.Always, what)
        {
            Build = _ => request(FileId),
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                var parsed = QueryInfoResponse.Parse(response.Message);
                return parse(response.Message[parsed.OutputBufferRange]);
            },
        }, cancellationToken);
    }

    public Task<FileBasicInformation> QueryBasicAsync(CancellationToken cancellationToken) =>
        QueryInfoAsync(id => QueryInfoRequest.ForFile(id, FileInformationClass.FileBasicInformation, FileBasicInformation.Size),
            FileBasicInformation.Parse, cancellationToken);

    public Task<FileStandardInformation> QueryStandardAsync(CancellationToken cancellationToken) =>
        QueryInfoAsync(id => QueryInfoRequest.ForFile(id, FileInformationClass.FileStandardInformation, FileStandardInformation.Size),
            FileStandardInformation.Parse, cancellationToken);

    /// <summary>FileAllInformation; the buffer leaves room for a long name (it ends the structure).</summary>
    public Task<FileAllInformation> QueryAllAsync(CancellationToken cancellationToken) =>
        QueryInfoAsync(id => QueryInfoRequest.ForFile(id, FileInformationClass.FileAllInformation, AllInformationBufferSize),
            FileAllInformation.Parse, cancellationToken);

    private const int AllInformationBufferSize = 4096;

    /// <summary>SET_INFO. Renames are not repeatable (<see cref="ReplayRule.Never"/>); the other classes are.</summary>
    public Task SetInfoAsync(FileInformationClass infoClass, byte[] buffer, string what, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var rule = infoClass == FileInformationClass.FileRenameInformation ? ReplayRule.Never : ReplayRule.OnReclaimedHandle;
        return Replayer.RunAsync(new ReplayRequest<bool>(this, rule, what)
        {
            Build = _ => SetInfoRequest.ForFile(FileId, infoClass, buffer),
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                return true;
            },
        }, cancellationToken);
    }

    /// <summary>Closes the handle; errors are reported (the server may have failed to commit data). A lost handle is already closed.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (!BeginClose(Closing))
        {
            return;
        }
        var what = $"Closing '{Name}'";
        var answered = false;
        NtStatus? closed = null;
        try
        {
            await Replayer.RunAsync(new ReplayRequest<bool>(this, ReplayRule.OnReclaimedHandle, what)
            {
                Build = _ => new CloseRequest(FileId),
                Complete = response =>
                {
                    if (response.Status is not (NtStatus.Success or NtStatus.FileClosed))
                    {
                        response.ThrowIfFailed(what);
                    }
                    closed = response.Status;
                    return true;
                },
            }, cancellationToken).ConfigureAwait(false);
            answered = true;
        }
        catch (SmbHandleLostException)
        {
            // Lost during the close: the server no longer has it open either.
            answered = true;
        }
        catch (SmbStatusException)
        {
            answered = true; // the server answered: whatever it kept, it said so
            throw;
        }
        finally
        {
            // Until its CLOSE is answered the handle stays with the tree, so a recovery reclaims it and the replayed
            // CLOSE goes on the reclaimed FileId (before, it went on the old one, was answered FILE_CLOSED and the
            // server kept the durable handle). A close given up (cancelled, timed out) is let go: the next recovery
            // reclaims it and closes it.
            if (closed is { } status)
            {
                Tree.Closed(this, status);
            }
            else if (answered)
            {
                Tree.Forget(this);
            }
            else
            {
                Volatile.Write(ref _closed, LetGo);
            }
        }
    }

    /// <summary>
    /// Closes without replay, for a handle with nothing left to commit that a Dispose is letting go: the
    /// CLOSE is answered, fails as soon as the connection is lost, or gives up after 30 s; it never waits
    /// for a reconnect. A CLOSE the server answers with an error is reported; one lost with the
    /// connection is not (the handle is then the server's to drop, see SEMANTICS).
    /// </summary>
    public async Task CloseWithoutReplayAsync()
    {
        if (!BeginClose(LetGo))
        {
            return;
        }
        if (Connection.State != ConnectionState.Ready)
        {
            return; // the handle stays with the tree: the recovery reclaims it and closes it
        }
        NtStatus status;
        try
        {
            status = await Tree.SendCloseAsync(FileId, Call.SoftLimit).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SmbConnectionException or SmbTimeoutException or OperationCanceledException)
        {
            return; // not known to be closed: the next recovery reclaims it and closes it
        }
        Tree.Closed(this, status);
        if (status is not (NtStatus.Success or NtStatus.FileClosed))
        {
            throw SmbStatusException.Create(status, $"Closing '{Name}'");
        }
    }

    /// <summary>Closes quietly (used on error paths); a handle whose CLOSE does not arrive is closed after the next recovery.</summary>
    public async ValueTask DisposeAsync()
    {
        if (BeginClose(LetGo) && Connection.State == ConnectionState.Ready)
        {
            await CloseLetGoAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One CLOSE for a let-go handle, never replayed; once answered the tree forgets the handle, else it stays for the next recovery.</summary>
    private async Task CloseLetGoAsync(bool duringSetup = false)
    {
        if (await Tree.CloseQuietlyAsync(FileId, duringSetup).ConfigureAwait(false) is { } status)
        {
            Tree.Closed(this, status);
        }
    }

    /// <summary>
    /// Marks the handle closed (<paramref name="how"/>) and stops its break notifications; true when a CLOSE is to be sent.
    /// False when it was closed already, or lost (the server no longer has it open: the tree forgets it).
    /// </summary>
    private bool BeginClose(int how)
    {
        if (Interlocked.CompareExchange(ref _closed, how, Open) != Open)
        {
            return false;
        }
        Tree.Breaks?.Untrack(this);
        if (IsLost)
        {
            Tree.Forget(this);
            return false;
        }
        return true;
    }

    /// <summary>The handle's users stop waiting for a reclaim that will not come (the connection closed for good).</summary>
    internal void AbandonReclaim() => EndReclaimWait();

    private void ThrowIfClosed()
    {
        if (IsClosed)
        {
            throw new ObjectDisposedException(nameof(SmbOpen), $"'{Name}' is closed.");
        }
    }
}

/// <summary>The data of one READ response, still in the transport's pooled buffer; dispose to return it.</summary>
internal readonly struct ReadData(SmbResponse? response, int offset, int length, bool inFile = false) : IDisposable
{
    public int Length => length;

    /// <summary>The data went straight into the READ's <see cref="FileSink"/>; <see cref="Data"/> is empty.</summary>
    public bool InFile => inFile;

    public ReadOnlyMemory<byte> Data => response is null ? ReadOnlyMemory<byte>.Empty : response.MessageMemory.Slice(offset, length);

    public void Dispose() => response?.Dispose();
}

/// <summary>
/// How long one recovery waits for the server to let go of the old connection before a durable handle it will not give
/// back yet counts as lost: <see cref="DefaultTotal"/> from the first refusal in that recovery, shared by every handle
/// reclaimed in it (they are reclaimed in parallel, so the patience is wall time, not a sum of waits). The first
/// refusals are usually the server still tearing the old connection down, and once it has, every handle comes back;
/// a handle refused later has less time left, never a fresh budget. Each handle backs off on its own
/// (<see cref="Backoff"/>: 100 ms doubling to 800 ms).
/// </summary>
internal sealed class ReclaimRetryBudget(TimeSpan total, Func<long>? clock = null)
{
    public static readonly TimeSpan DefaultTotal = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMilliseconds(800);

    private readonly Func<long> _clock = clock ?? (static () => Environment.TickCount64);
    private readonly long _total = (long)total.TotalMilliseconds;
    private long _deadline = long.MinValue;

    public ReclaimRetryBudget() : this(DefaultTotal)
    {
    }

    /// <summary>One handle's retries under this budget.</summary>
    public Backoff ForHandle() => new(this);

    /// <summary>The wait before a handle's next try, or null when the recovery's patience is spent.</summary>
    private TimeSpan? Next(ref TimeSpan next)
    {
        var now = _clock();
        Interlocked.CompareExchange(ref _deadline, now + _total, long.MinValue); // the first refusal starts the clock
        var left = Interlocked.Read(ref _deadline) - now;
        if (left <= 0)
        {
            return null;
        }
        var delay = next.TotalMilliseconds < left ? next : TimeSpan.FromMilliseconds(left);
        next = next + next < MaxDelay ? next + next : MaxDelay;
        return delay;
    }

    /// <summary>A handle's own doubling delays, bounded by the shared deadline.</summary>
    public sealed class Backoff(ReclaimRetryBudget budget)
    {
        private TimeSpan _next = FirstDelay;

        public TimeSpan? NextDelay() => budget.Next(ref _next);
    }
}

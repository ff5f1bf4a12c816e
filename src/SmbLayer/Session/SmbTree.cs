using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// A connected share (MS-SMB2 §3.2.4.2.4) and the file operations on it. The object survives
/// reconnects: <see cref="RecoverAsync"/> connects the share again under the recovered session,
/// and <see cref="RecoverOpensAsync"/> reclaims the durable handles opened through it.
/// </summary>
internal sealed partial class SmbTree : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly string _host;
    private readonly ConcurrentDictionary<SmbOpen, byte> _opens = new();
    private readonly SemaphoreSlim _recoverLock = new(1, 1);
    private uint _treeId;
    private int _treeGeneration;
    private int _disconnected;

    private SmbTree(SmbSession session, string host, string share, uint treeId, TreeConnectResponse response, BreakDispatcher? breaks, ILogger logger)
    {
        Session = session;
        _host = host;
        Share = share;
        _treeId = treeId;
        Breaks = breaks;
        ShareType = response.ShareType;
        ShareFlags = response.ShareFlags;
        _logger = logger;
    }

    /// <summary>Requests on this tree go encrypted: the session encrypts, or the share requires it (SMB2_SHAREFLAG_ENCRYPT_DATA).</summary>
    public bool EncryptData => Session.EncryptData || (ShareFlags & ShareFlags.EncryptData) != 0;

    public SmbSession Session { get; }
    public SmbConnection Connection => Session.Connection;
    public string Share { get; }
    public uint TreeId => Volatile.Read(ref _treeId);

    /// <summary>
    /// Counts the times every handle of this tree had to be reclaimed: a reconnect, a share connected again after
    /// NETWORK_NAME_DELETED, a session set up anew. A handle obtained in an earlier epoch waits for its reclaim.
    /// </summary>
    public int HandleEpoch => Volatile.Read(ref _treeGeneration);
    public ShareType ShareType { get; private set; }
    public ShareFlags ShareFlags { get; private set; }

    /// <summary>The share is in a DFS namespace (SMB2_SHAREFLAG_DFS): its opens name DFS paths (<see cref="ForThisShare"/>).</summary>
    public bool IsDfs => (ShareFlags & ShareFlags.Dfs) != 0;

    /// <summary>
    /// <paramref name="request"/> as this share takes it: on a DFS share the share-relative name becomes the DFS path name
    /// <c>server\share\path</c>, sent with SMB2_FLAGS_DFS_OPERATIONS (MS-SMB2 §3.2.4.3); elsewhere unchanged. The
    /// server answers a name that crosses a DFS link with STATUS_PATH_NOT_COVERED.
    /// </summary>
    public CreateRequest ForThisShare(CreateRequest request) => IsDfs && !request.IsDfsPathName
        ? request.WithName(request.Name.Length == 0 ? $@"{_host}\{Share}" : $@"{_host}\{Share}\{request.Name}", isDfsPathName: true)
        : request;

    /// <summary>This tree's log, for what its calls do on its behalf (<see cref="StatusRecovery"/>).</summary>
    internal ILogger Logger => _logger;

    /// <summary>Where opens holding an oplock or lease register for break notifications.</summary>
    public BreakDispatcher? Breaks { get; }

    /// <summary>Told (on the recovering thread) when an open could not be reclaimed.</summary>
    public Action<SmbOpen, string>? HandleLost { get; set; }

    /// <summary>Open handles on this tree.</summary>
    public ICollection<SmbOpen> Opens => _opens.Keys;

    /// <summary>Context for ordinary requests on this tree.</summary>
    public RequestContext Context => ContextFor(null, replay: false);

    /// <summary>
    /// Context for one attempt of a request: current session, tree and signer; on 3.x the
    /// connection's ChannelSequence, and SMB2_FLAGS_REPLAY_OPERATION when the request is sent
    /// again after a connection loss (MS-SMB2 §3.2.4.1.1).
    /// </summary>
    public RequestContext ContextFor(SmbOpen? open, bool replay, bool duringSetup = false, Action<SmbResponse>? onAbandoned = null, FileSink? sink = null,
        long callDeadline = CallOptions.NoDeadline)
    {
        var smb3 = Connection.Negotiated?.Dialect.IsSmb3() == true;
        var plain = Session.Context(TreeId, EncryptData);
        return new RequestContext
        {
            SessionId = plain.SessionId,
            TreeId = plain.TreeId,
            Signer = plain.Signer,
            Transform = plain.Transform,
            ChannelSequence = smb3 ? (ushort)Connection.Generation : (ushort)0,
            Flags = replay && smb3 ? Smb2HeaderFlags.ReplayOperation : Smb2HeaderFlags.None,
            DuringSetup = duringSetup,
            OnAbandonedResponse = onAbandoned,
            Sink = sink,
            CallDeadline = callDeadline,
        };
    }

    public static async Task<SmbTree> ConnectAsync(SmbSession session, string host, string share, BreakDispatcher? breaks,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(share))
        {
            throw new ArgumentException("No share name given.", nameof(share));
        }
        var (treeId, parsed) = await TreeConnectAsync(session, host, share, duringSetup: false, cancellationToken).ConfigureAwait(false);
        var logger = loggerFactory.CreateLogger<SmbTree>();
        var tree = new SmbTree(session, host, share, treeId, parsed, breaks, logger);
        session.Attach(tree);
        logger.TreeConnected(treeId, share, host, tree.EncryptData ? "on" : "off");
        await NegotiateValidation.ValidateIfNeededAsync(tree, logger, cancellationToken).ConfigureAwait(false);
        return tree;
    }

    private static async Task<(uint, TreeConnectResponse)> TreeConnectAsync(SmbSession session, string host, string share, bool duringSetup, CancellationToken cancellationToken)
    {
        var path = $@"\\{host}\{share}";
        using var response = await session.Connection.SendAsync(new TreeConnectRequest(path), session.TreeConnectContext(duringSetup), cancellationToken).ConfigureAwait(false);
        response.ThrowIfFailed($"Connecting to share '{share}' on {host}");
        var parsed = TreeConnectResponse.Parse(response.Message);
        if (parsed.EncryptData && !session.CanEncrypt)
        {
            // MS-SMB2 §3.2.5.5: a share that requires encryption is unusable without cipher keys.
            throw new SmbSecurityException($"Share '{share}' on {host} requires encryption, but this session cannot encrypt " +
                $"(dialect {session.Connection.Negotiated?.Dialect.ToDisplay()}, {(session.IsGuest ? "guest session" : "no common cipher")}).");
        }
        return (response.Header.TreeId, parsed);
    }

    /// <summary>After a reconnect (session already recovered): TREE_CONNECT again and take the new TreeId.</summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var (treeId, parsed) = await TreeConnectAsync(Session, _host, Share, duringSetup: true, cancellationToken).ConfigureAwait(false);
        ShareFlags = parsed.ShareFlags;
        ShareType = parsed.ShareType;
        Volatile.Write(ref _treeId, treeId);
        Interlocked.Increment(ref _treeGeneration);
        _logger.TreeReconnected(Share, treeId);
    }

    /// <summary>After a reconnect: connects the share again; when the server refuses it now, its handles cannot come back and their users are told.</summary>
    public async Task RecoverOrLoseOpensAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RecoverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SmbStatusException ex)
        {
            LoseAllOpens($"the share could not be connected again: {ex.Message}");
        }
    }

    /// <summary>Most reclaims of one tree in flight at once (each is one CREATE; credits bound them too).</summary>
    public const int ReclaimConcurrency = 64;

    /// <summary>
    /// Every open of this tree from an earlier epoch waits for its reclaim from now: its users wait for it, not for the
    /// others. One opened in this epoch (after the recovery) is left alone.
    /// </summary>
    public void AwaitReclaims()
    {
        var epoch = HandleEpoch;
        foreach (var open in _opens.Keys)
        {
            if (open.Epoch < epoch && open.AwaitReclaim() is { } reason)
            {
                Lose(open, reason);
            }
        }
    }

    /// <summary>An open that cannot come back leaves the tree; its users are told, unless it was closed already.</summary>
    private void Lose(SmbOpen open, string reason)
    {
        _opens.TryRemove(open, out _);
        if (open.IsClosed)
        {
            _logger.ClosedHandleNotReclaimed(open.Name, reason);
        }
        else
        {
            HandleLost?.Invoke(open, reason);
        }
    }

    /// <summary>
    /// After a reconnect: reclaims every durable open, up to <see cref="ReclaimConcurrency"/> at once, each within
    /// <paramref name="stepTimeout"/>; the others are lost (their users get <see cref="SmbHandleLostException"/>).
    /// <paramref name="budget"/> is the recovery's shared patience with a server still letting go of the old connection
    /// (one per recovery, across trees); null: a new one for this tree. A connection lost again meanwhile ends the run
    /// early with the handles not yet back still waiting: the next recovery reclaims them.
    /// </summary>
    public async Task RecoverOpensAsync(ReclaimRetryBudget? budget, TimeSpan stepTimeout, CancellationToken cancellationToken)
    {
        budget ??= new ReclaimRetryBudget();
        AwaitReclaims();
        var epoch = HandleEpoch;
        // Each waiting handle is reclaimed once per epoch: by this run, or by the CREATE that made it if that finished
        // just after the recovery looked (ReclaimIfMissedAsync); whoever claims it first.
        var waiting = _opens.Keys.Where(open => open.ReclaimPending is not null && open.TryClaimReclaim(epoch)).ToList();
        var options = new ParallelOptions { MaxDegreeOfParallelism = ReclaimConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(waiting, options, async (open, token) =>
        {
            if (await open.ReclaimAsync(budget, stepTimeout, token).ConfigureAwait(false) is { } reason)
            {
                Lose(open, reason);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// A CREATE answered just before the connection was lost: its open may have joined the tree after the recovery
    /// looked for handles to reclaim (it made the open in an earlier epoch). Then it is reclaimed here, by the call
    /// that made it, or waited for when the recovery took it after all. A handle that cannot come back fails the call.
    /// </summary>
    private async Task ReclaimIfMissedAsync(SmbOpen open, string what, CancellationToken cancellationToken)
    {
        Interlocked.MemoryBarrier(); // the open is in _opens before the epoch is read (the recovery: epoch, then _opens)
        var epoch = HandleEpoch;
        if (open.Epoch >= epoch)
        {
            return;
        }
        _logger.CreateAnsweredBeforeLoss(open.Name, epoch);
        var lost = open.AwaitReclaim();
        if (lost is null && open.TryClaimReclaim(epoch))
        {
            lost = await open.ReclaimAsync(new ReclaimRetryBudget(), Connection.Settings.RecoveryStepTimeout, cancellationToken).ConfigureAwait(false);
        }
        else if (lost is null && open.ReclaimPending is { } pending)
        {
            await pending.WaitAsync(cancellationToken).ConfigureAwait(false); // the recovery took it after all
        }
        if (lost is not null)
        {
            _opens.TryRemove(open, out _);
            throw new SmbHandleLostException($"{what}: the server opened it just before the connection was lost, and {lost}");
        }
        open.ThrowIfLost(what);
    }

    /// <summary>The connection closed for good: no open of this tree waits for a reclaim any more.</summary>
    public void AbandonReclaims()
    {
        foreach (var open in _opens.Keys)
        {
            open.AbandonReclaim();
        }
    }

    /// <summary>Marks every open lost (the tree itself could not be recovered).</summary>
    public void LoseAllOpens(string reason)
    {
        foreach (var open in _opens.Keys)
        {
            open.MarkLost(reason);
            Lose(open, reason);
        }
    }

    /// <summary>
    /// STATUS_NETWORK_NAME_DELETED: the server disconnected the share. Connect it again and
    /// reclaim what can be reclaimed; concurrent callers share one recovery.
    /// </summary>
    public async Task RecoverAfterNameDeletedAsync(CancellationToken cancellationToken)
    {
        var seen = Volatile.Read(ref _treeGeneration);
        await _recoverLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _treeGeneration) != seen)
            {
                return; // someone else reconnected the tree meanwhile
            }
            var (treeId, parsed) = await TreeConnectAsync(Session, _host, Share, duringSetup: false, cancellationToken).ConfigureAwait(false);
            ShareFlags = parsed.ShareFlags;
            Volatile.Write(ref _treeId, treeId);
            Interlocked.Increment(ref _treeGeneration);
            _logger.TreeReconnectedAfterNameDeleted(Share, treeId);
            await RecoverOpensAsync(null, Connection.Settings.RecoveryStepTimeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _recoverLock.Release();
        }
    }

    /// <summary>
    /// Its session was set up anew on the same connection (the server had deleted the old one): connect the share again
    /// under the new SessionId and reclaim the handles; a share refused now loses them (only their users are told).
    /// </summary>
    public async Task RecoverAfterSessionRebuiltAsync(TimeSpan stepTimeout)
    {
        await _recoverLock.WaitAsync().ConfigureAwait(false);
        try
        {
            try
            {
                using var step = new CancellationTokenSource(stepTimeout);
                var (treeId, parsed) = await TreeConnectAsync(Session, _host, Share, duringSetup: false, step.Token).ConfigureAwait(false);
                ShareFlags = parsed.ShareFlags;
                ShareType = parsed.ShareType;
                Volatile.Write(ref _treeId, treeId);
                Interlocked.Increment(ref _treeGeneration);
                _logger.TreeReconnected(Share, treeId);
            }
            catch (SmbStatusException ex)
            {
                LoseAllOpens($"the share could not be connected again under the new session: {ex.Message}");
                return;
            }
            // Each handle's reclaim has its own step timeout.
            await RecoverOpensAsync(null, stepTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _recoverLock.Release();
        }
    }

    /// <summary>
    /// Opens or creates a file or directory. With <paramref name="durable"/>, a file open asks for a
    /// durable handle (DH2Q with a CreateGuid on 3.x, DHnQ before) with the lease or batch oplock that
    /// durability needs, so it can be reclaimed after a reconnect. If the caller gives up
    /// (cancellation) and the server's success arrives anyway, the handle is closed (DESIGN §4).
    /// The open keeps <paramref name="call"/> for every operation on it.
    /// </summary>
    public async Task<SmbOpen> CreateAsync(CreateRequest request, CallOptions call, HandleDurability asked, CancellationToken cancellationToken)
    {
        var durability = OpenDurability.For(Connection.Negotiated!.Dialect, asked, Connection.Settings.DurableHandleTimeout);
        var rule = durability.CreateGuid is not null ? ReplayRule.CreateWithReplayFlag
            : request.CreateDisposition == CreateDisposition.Create ? ReplayRule.Never
            : ReplayRule.Always;
        var what = OpenWhat(request.Name);
        var name = request.Name;
        request = ForThisShare(request);
        var epoch = 0;
        var parsed = await Replayer.RunAsync(new ReplayRequest<CreateResponse>(this, rule, what, call)
        {
            Build = replay =>
            {
                epoch = HandleEpoch; // the attempt that is answered says which epoch its FileId belongs to
                return durability.Apply(request);
            },
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                return CreateResponse.Parse(response.Message);
            },
            OnAbandoned = CloseAbandoned,
        }, cancellationToken).ConfigureAwait(false);
        if (BeforeOpenJoins is { } hook)
        {
            await hook().ConfigureAwait(false);
        }
        var open = new SmbOpen(this, request, parsed, durability.Granted(parsed), call, epoch, name);
        _opens[open] = 0;
        await ReclaimIfMissedAsync(open, what, cancellationToken).ConfigureAwait(false);
        return open;
    }

    /// <summary>
    /// Asks for the DFS referral of <paramref name="dfsPath"/> (<c>\\server\share[\path]</c>): FSCTL_DFS_GET_REFERRALS
    /// bound to no open, on an IPC$ tree (MS-DFSC §3.1.4.2). Nothing changes on the server, so it is repeated after a
    /// connection loss like a read.
    /// </summary>
    public Task<Protocol.Dfs.DfsReferralResponse> GetDfsReferralAsync(string dfsPath, CallOptions call, CancellationToken cancellationToken)
    {
        var what = $"Asking {_host} for the DFS referral of {dfsPath}";
        return Replayer.RunAsync(new ReplayRequest<Protocol.Dfs.DfsReferralResponse>(this, ReplayRule.Always, what, call)
        {
            Build = _ => new IoctlRequest(IoctlRequest.FsctlDfsGetReferrals, IoctlRequest.NoFile, Protocol.Dfs.DfsReferral.EncodeRequest(dfsPath),
                Protocol.Dfs.DfsReferral.MaxResponseSize),
            Complete = response =>
            {
                response.ThrowIfFailed(what);
                var ioctl = IoctlResponse.Parse(response.Message);
                return Protocol.Dfs.DfsReferral.ParseResponse(response.Message[ioctl.OutputRange]);
            },
        }, cancellationToken);
    }

    internal void Forget(SmbOpen open) => _opens.TryRemove(open, out _);

    /// <summary>
    /// The server answered <paramref name="open"/>'s CLOSE with <paramref name="status"/>: the tree forgets it, and once it
    /// is closed on the server (SUCCESS, or FILE_CLOSED: it had no such handle) no lease of it is left to acknowledge.
    /// </summary>
    internal void Closed(SmbOpen open, NtStatus status)
    {
        Forget(open);
        if (status is NtStatus.Success or NtStatus.FileClosed)
        {
            Breaks?.Released(open);
        }
    }

    /// <summary>Tests: runs between a CREATE's answer and its open joining the tree (where a connection loss can fall).</summary>
    internal Func<Task>? BeforeOpenJoins { get; set; }

    private string OpenWhat(string name) => $"Opening '{(name.Length == 0 ? "\\" : name)}' on share '{Share}'";

    private void CloseAbandoned(SmbResponse response)
    {
        Smb2FileId fileId;
        try
        {
            fileId = CreateResponse.Parse(response.Message).FileId;
        }
        catch (SmbProtocolException)
        {
            return;
        }
        _ = CloseQuietlyAsync(fileId);
    }

    /// <summary>Longest wait for a CLOSE that is never replayed (a soft call's soft timeout, when shorter).</summary>
    private static readonly TimeSpan UnreplayedCloseLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// One CLOSE, never replayed: answered, failed as soon as the connection is lost, or given up after 30 s, or after
    /// <paramref name="softLimit"/> when that is shorter (a soft call's Dispose waits no longer than its soft timeout).
    /// </summary>
    internal async Task<NtStatus> SendCloseAsync(Smb2FileId fileId, TimeSpan? softLimit = null, bool duringSetup = false)
    {
        using var cts = new CancellationTokenSource(softLimit is { } soft && soft < UnreplayedCloseLimit ? soft : UnreplayedCloseLimit);
        var context = duringSetup ? ContextFor(null, replay: false, duringSetup: true) : Context;
        using var response = await Connection.SendAsync(new CloseRequest(fileId), context, cts.Token).ConfigureAwait(false);
        return response.Status;
    }

    /// <summary>Closes a handle nobody holds any more; failures are logged, not thrown. Returns the answer, or null when none came.</summary>
    internal async Task<NtStatus?> CloseQuietlyAsync(Smb2FileId fileId, bool duringSetup = false)
    {
        try
        {
            var status = await SendCloseAsync(fileId, duringSetup: duringSetup).ConfigureAwait(false);
            _logger.AbandonedHandleClosed(fileId, status);
            return status;
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.AbandonedHandleCloseFailed(fileId, ex.Message);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disconnected, 1) != 0)
        {
            return;
        }
        try
        {
            if (Connection.State == ConnectionState.Ready)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                using var response = await Connection.SendAsync(new TreeDisconnectRequest(), Context, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            _logger.TreeDisconnectFailed(Share, ex.Message);
        }
        Session.Detach(this);
        _recoverLock.Dispose();
    }
}

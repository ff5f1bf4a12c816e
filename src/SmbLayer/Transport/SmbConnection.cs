using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// One SMB connection to one server: many requests in flight, one reader loop that completes
/// waiters by MessageId, one writer loop that serialises sends, credits, interim replies,
/// server-initiated messages, cancellation, liveness and reconnect. The connection object
/// survives reconnects; the <see cref="Link"/> (socket, loops, message ids, credits) is what
/// dies and is replaced. Split by concern into partial files: <c>.Writer</c>, <c>.Reader</c>,
/// <c>.Timers</c> (expiry, cancellation), <c>.Liveness</c>, <c>.Negotiate</c>, <c>.Reconnect</c>.
/// </summary>
internal sealed partial class SmbConnection : IAsyncDisposable
{
    private readonly object _sendLock = new();
    private readonly IMessageFamily _family;
    private readonly ILogger _logger;
    private readonly List<Action<ReadOnlyMemory<byte>>> _serverMessageHandlers = [];
    private readonly CancellationTokenSource _lifetime = new();
    private Link? _link;
    private int _state = (int)ConnectionState.Created;
    private Exception? _failure;
    private Task _timerTask = Task.CompletedTask;
    private long _lastReceiveTicks;
    /// <summary>Requests with a <see cref="FileSink"/> not yet completed (the reader then reads frame heads with splicing in mind).</summary>
    private int _sinkRequests;

    /// <summary>Requests with a <see cref="FileSink"/> not yet completed (tests).</summary>
    internal int SinkRequestsInFlight => Volatile.Read(ref _sinkRequests);
    private long _bytesIntoFiles;
    private long _bytesFromFiles;

    public SmbConnection(string host, int port, ConnectionSettings settings, IMessageFamily? family = null)
    {
        Host = host;
        Port = port;
        Settings = settings;
        _family = family ?? Smb2MessageFamily.Instance;
        _logger = settings.LoggerFactory.CreateLogger<SmbConnection>();
    }

    public string Host { get; }
    public int Port { get; }
    public ConnectionSettings Settings { get; }

    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Requests sent and not yet answered (including abandoned ones).</summary>
    public int InFlightCount => _link?.Pending.Count ?? 0;

    /// <summary>Highest credit balance the server granted; upper layers size I/O so one request fits.</summary>
    public long CreditHighWaterMark => _link?.Credits.HighWaterMark ?? 0;

    /// <summary>Time since the last byte arrived from the server.</summary>
    /// <summary>READ data the reader has put straight into files (<see cref="FileSink"/>: spliced, or written from the few bytes read with the header), on every link so far.</summary>
    public long BytesReadIntoFiles => Interlocked.Read(ref _bytesIntoFiles);

    /// <summary>WRITE data the writer has sent straight from local files (<see cref="FileRange"/>, sendfile), on every link so far.</summary>
    public long BytesSentFromFiles => Interlocked.Read(ref _bytesFromFiles);

    public TimeSpan SinceLastReceive => TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastReceiveTicks));

    /// <summary>What NEGOTIATE settled; null before.</summary>
    public NegotiatedParameters? Negotiated { get; private set; }

    /// <summary>True when the dialect supports multi-credit requests (2.1 and later with LARGE_MTU).</summary>
    private bool LargeMtu => Negotiated?.SupportsLargeMtu ?? false;

    /// <summary>Registers a callback for server-initiated messages (oplock/lease breaks). It runs off the reader loop with its own copy of the message.</summary>
    public void RegisterServerMessageHandler(Action<ReadOnlyMemory<byte>> handler)
    {
        lock (_serverMessageHandlers)
        {
            _serverMessageHandlers.Add(handler);
        }
    }

    /// <summary>Opens the TCP connection and starts the loops (no NEGOTIATE yet).</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        Transition(ConnectionState.Created, ConnectionState.Connecting);
        Stream stream;
        try
        {
            stream = await OpenSocketAsync(Settings.ConnectTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Close(ex is SmbException ? ex : new OperationCanceledException());
            throw;
        }
        Start(stream);
    }

    private async Task<Stream> OpenSocketAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        limit.CancelAfter(timeout);
        try
        {
            // An address literal connects directly: the host-name overload goes through name resolution first (tens of ms at start-up).
            if (System.Net.IPAddress.TryParse(Host, out var address))
            {
                await socket.ConnectAsync(new System.Net.IPEndPoint(address, Port), limit.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(Host, Port, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SmbConnectionException($"Connecting to {Host}:{Port} timed out after {timeout.TotalSeconds:0.#} s.");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new SmbConnectionException($"Cannot connect to {Host}:{Port}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        socket.ReceiveBufferSize = Math.Max(socket.ReceiveBufferSize, 4 * 1024 * 1024);
        socket.SendBufferSize = Math.Max(socket.SendBufferSize, 4 * 1024 * 1024);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Runs the connection over an already open stream (tests use this with a scripted peer).</summary>
    public void Start(Stream stream)
    {
        if (State == ConnectionState.Created)
        {
            Transition(ConnectionState.Created, ConnectionState.Connecting);
        }
        StartLink(stream);
        Transition(ConnectionState.Connecting, ConnectionState.Negotiating);
        _timerTask = RunInBackground(() => TimerLoopAsync(_lifetime.Token));
    }

    /// <summary>
    /// Starts one of the connection's long-lived loops (reader, writer, timers, reconnect) without the calling flow's
    /// execution context: a loop started with it would keep every AsyncLocal value of whichever call happened to
    /// open or break the connection (an ASP.NET request's context, a logging scope, the call's hard/soft policy, its
    /// trace span) alive, and visible, for the connection's whole life.
    /// </summary>
    internal static Task RunInBackground(Func<Task> loop)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(loop);
        }
    }

    /// <summary>A fresh link: new socket stream, new loops, MessageIds from 0, one credit.</summary>
    private Link StartLink(Stream stream)
    {
        var link = new Link(stream, CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token));
        Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
        lock (_sendLock)
        {
            _link = link;
        }
        link.Reader = RunInBackground(() => ReadLoopAsync(link));
        link.Writer = RunInBackground(() => WriteLoopAsync(link));
        return link;
    }

    /// <summary>Marks the connection usable (after NEGOTIATE, or directly in tests).</summary>
    public void MarkReady(NegotiatedParameters? negotiated)
    {
        Negotiated = negotiated ?? Negotiated;
        Transition(ConnectionState.Negotiating, ConnectionState.Ready);
        _readyWaiters.TrySetResult();
    }

    /// <summary>
    /// Sends one request and waits for its final response. The caller owns (and disposes) the
    /// response, whatever its status. Cancellation: before the request is on the wire it is
    /// dropped; after, an SMB2 CANCEL goes out and the caller waits up to
    /// <see cref="ConnectionSettings.CancelGrace"/>: a response that arrives is returned
    /// (the server acted on it); STATUS_CANCELLED or silence ends in <see cref="OperationCanceledException"/>.
    /// When the connection is not Ready, or is lost before the answer, the call fails with
    /// <see cref="SmbConnectionLostException"/> (saying whether the request was sent); it never
    /// waits for a reconnect itself — the session layer decides whether to wait and replay.
    /// </summary>
    public Task<SmbResponse> SendAsync(ISmb2Request body, RequestContext context, CancellationToken cancellationToken, bool priority = false)
    {
        var pending = new PendingRequest(body, context, CreditChargeFor(body.PayloadSize));
        if (context.Sink is null)
        {
            return SendCoreAsync([pending], priority, cancellationToken)[0];
        }
        // While such requests are out, the reader looks at large frames for data it can splice into a file.
        Interlocked.Increment(ref _sinkRequests);
        var sent = SendCoreAsync([pending], priority, cancellationToken)[0];
        sent.ContinueWith(static (_, state) => Interlocked.Decrement(ref ((SmbConnection)state!)._sinkRequests), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return sent;
    }

    /// <summary>
    /// Sends requests as one compound frame (MS-SMB2 §3.2.4.1.4). With <paramref name="related"/>,
    /// members after the first carry SMB2_FLAGS_RELATED_OPERATIONS and use the first one's handle.
    /// Returns one task per member; each response is the caller's to dispose.
    /// </summary>
    public Task<SmbResponse>[] SendCompound(IReadOnlyList<ISmb2Request> bodies, RequestContext context, bool related, CancellationToken cancellationToken)
    {
        var members = new PendingRequest[bodies.Count];
        for (var i = 0; i < members.Length; i++)
        {
            members[i] = new PendingRequest(bodies[i], context, CreditChargeFor(bodies[i].PayloadSize));
            if (related && i > 0)
            {
                members[i].ExtraFlags = Smb2HeaderFlags.RelatedOperations;
            }
        }
        return SendCoreAsync(members, priority: false, cancellationToken);
    }

    private Task<SmbResponse>[] SendCoreAsync(PendingRequest[] members, bool priority, CancellationToken cancellationToken)
    {
        var tasks = new Task<SmbResponse>[members.Length];
        var sent = SendMembersAsync(members, priority, cancellationToken);
        for (var i = 0; i < members.Length; i++)
        {
            tasks[i] = AwaitMemberAsync(sent, members[i]);
        }
        return tasks;
    }

    private static async Task<SmbResponse> AwaitMemberAsync(Task sent, PendingRequest member)
    {
        await sent.ConfigureAwait(false);
        return await member.Completion.Task.ConfigureAwait(false);
    }

    private async Task SendMembersAsync(PendingRequest[] members, bool priority, CancellationToken cancellationToken)
    {
        var link = UsableLinkFor(members[0].Context);
        var totalCharge = 0;
        foreach (var m in members)
        {
            m.SetState(RequestState.Queued);
            totalCharge += Math.Max((int)m.CreditCharge, 1);
        }
        // Queued: waiting for credits. A cancellation here means nothing went on the wire.
        var credits = link.Credits.AcquireAsync(totalCharge, members.Length, priority, cancellationToken);
        if (!credits.IsCompleted)
        {
            RecordCreditWait(members.Length);
        }
        await credits.ConfigureAwait(false);
        lock (_sendLock)
        {
            if (link.Failed || _link != link)
            {
                throw NotSentError();
            }
            var now = Environment.TickCount64;
            var timestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var m in members)
            {
                m.MessageId = link.NextMessageId;
                link.NextMessageId += (ulong)Math.Max((int)m.CreditCharge, 1);
                m.CreditRequest = CreditRequestFor(link, m.CreditCharge);
                var timeout = m.Context.Timeout ?? Settings.RequestTimeout;
                m.SentTicks = now;
                m.SentTimestamp = timestamp;
                m.DeadlineTicks = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : now + (long)timeout.TotalMilliseconds;
                m.SetState(RequestState.Sent);
                link.Pending[m.MessageId] = m;
            }
            if (!link.Queue.Writer.TryWrite(new OutgoingItem(members, null)))
            {
                foreach (var m in members)
                {
                    link.Pending.TryRemove(m.MessageId, out _);
                }
                throw NotSentError();
            }
        }
        if (cancellationToken.CanBeCanceled)
        {
            foreach (var m in members)
            {
                m.CancellationRegistration = cancellationToken.UnsafeRegister(static (state, token) =>
                {
                    var (connection, request) = ((SmbConnection, PendingRequest))state!;
                    connection.OnCallerCancelled(request, token);
                }, (this, m));
            }
        }
    }

    /// <summary>The link a request may use now: Ready, or recovering for the recovery's own requests; otherwise a not-sent connection-lost error.</summary>
    private Link UsableLinkFor(RequestContext context)
    {
        var state = State;
        var link = _link;
        var allowed = state == ConnectionState.Ready
            || (context.DuringSetup && state is ConnectionState.Negotiating or ConnectionState.Reconnecting);
        if (!allowed || link is null || link.Failed)
        {
            throw NotSentError();
        }
        return link;
    }

    private SmbConnectionException NotSentError()
    {
        if (State == ConnectionState.Closed || !Settings.Reconnect)
        {
            return UnusableError();
        }
        return new SmbConnectionLostException($"Connection to {Host}:{Port} is {State.ToString().ToLowerInvariant()}; the request was not sent.", wasSent: false, _lastLoss);
    }

    /// <summary>MS-SMB2 §3.1.5.2: one credit per 64 KiB of payload with large MTU; the 2.0.2 header field stays 0.</summary>
    private ushort CreditChargeFor(int payloadSize)
    {
        if (!LargeMtu)
        {
            return 0;
        }
        return (ushort)Math.Max(1, (payloadSize + 65535) / 65536);
    }

    private ushort CreditRequestFor(Link link, ushort charge)
    {
        var held = link.Credits.Balance + link.Pending.Count;
        var deficit = Settings.TargetCredits - held;
        var extra = deficit > 0 ? Math.Min(deficit, 256) : 0;
        return (ushort)Math.Min(ushort.MaxValue, Math.Max((int)charge, 1) + extra);
    }

    private SmbConnectionException UnusableError() =>
        _failure as SmbException is { } smb
            ? new SmbConnectionException($"Connection to {Host}:{Port} is closed: {smb.Message}", smb)
            : new SmbConnectionException($"Connection to {Host}:{Port} is closed.", _failure);

    private void Transition(ConnectionState from, ConnectionState to)
    {
        if (Interlocked.CompareExchange(ref _state, (int)to, (int)from) != (int)from)
        {
            throw new InvalidOperationException($"Connection to {Host}:{Port} is {State}, cannot go from {from} to {to}.");
        }
        OnStateChanged(from, to, null);
    }

    /// <summary>Raised (on the thread pool) after every state change, with the reason for a loss.</summary>
    public event Action<ConnectionState, ConnectionState, Exception?>? StateChanged;

    private void OnStateChanged(ConnectionState from, ConnectionState to, Exception? reason)
    {
        RecordStateChange(from, to);
        if (reason is null || to is ConnectionState.Ready)
        {
            _logger.StateChanged(Host, Port, from, to);
        }
        else
        {
            _logger.StateChangedByLoss(Host, Port, from, to, reason.Message);
        }
        if (StateChanged is { } handler)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.handler(s.from, s.to, s.reason), (handler, from, to, reason), preferLocal: false);
        }
    }

    /// <summary>
    /// The link failed (EOF, reset, dead by liveness, protocol error). Every outstanding request
    /// fails — with <see cref="SmbConnectionLostException"/> when the connection will reconnect,
    /// so the session layer can replay it — and the reconnect loop starts.
    /// </summary>
    private void LinkFailed(Link link, Exception reason)
    {
        Exception error = reason as SmbException ?? new SmbConnectionException($"Connection to {Host}:{Port} lost: {reason.Message}", reason);
        lock (_sendLock)
        {
            if (link.Failed)
            {
                return;
            }
            link.Failed = true;
            link.Queue.Writer.TryComplete();
        }
        link.Shutdown();
        var lostBeforeSend = new SmbConnectionLostException($"Connection to {Host}:{Port} lost before the request was sent: {error.Message}", wasSent: false, error);
        Exception LostAfterSend(PendingRequest p) => new SmbConnectionLostException(
            $"Connection to {Host}:{Port} lost while {p.Body.Command} was outstanding: {error.Message}", wasSent: true, error);
        var canReconnect = Settings.Reconnect && !_lifetime.IsCancellationRequested && _failure is null;
        if (canReconnect && State == ConnectionState.Reconnecting)
        {
            // A reconnect attempt's own link failed: its requests fail, the reconnect loop tries again.
            link.Credits.Fail(lostBeforeSend);
            FailPending(link, LostAfterSend, SmbInstruments.ReasonConnectionLost);
            return;
        }
        if (!canReconnect || State != ConnectionState.Ready)
        {
            Close(error);
            return;
        }
        _lastLoss = error;
        lock (_sendLock)
        {
            Interlocked.Exchange(ref _unusableSinceTicks, Environment.TickCount64);
            if (_readyWaiters.Task.IsCompleted)
            {
                _readyWaiters = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        link.Credits.Fail(lostBeforeSend);
        FailPending(link, LostAfterSend, SmbInstruments.ReasonConnectionLost);
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Disconnected, (int)ConnectionState.Ready) == (int)ConnectionState.Ready)
        {
            OnStateChanged(ConnectionState.Ready, ConnectionState.Disconnected, error);
            _reconnectTask = RunInBackground(() => ReconnectLoopAsync(_lifetime.Token));
        }
    }

    private void FailPending(Link link, Func<PendingRequest, Exception> errorFor, string reason)
    {
        foreach (var (id, p) in link.Pending)
        {
            if (link.Pending.TryRemove(id, out _))
            {
                p.SetState(RequestState.Failed);
                p.CancellationRegistration.Dispose();
                p.Completion.TrySetException(errorFor(p));
                if (!p.Abandoned)
                {
                    // An abandoned request was counted when its caller stopped waiting (timeout, cancellation).
                    RecordUnanswered(p, reason);
                }
            }
        }
    }

    /// <summary>
    /// Tears the connection down for good: every waiter fails with <paramref name="reason"/>
    /// (wrapped as a connection error when it is not already an SMB error). No reconnect follows.
    /// </summary>
    internal void Close(Exception reason)
    {
        Exception error = reason as SmbException ?? new SmbConnectionException($"Connection to {Host}:{Port} lost: {reason.Message}", reason);
        Link? link;
        ConnectionState old;
        lock (_sendLock)
        {
            if (_failure is not null)
            {
                return;
            }
            _failure = error;
            old = (ConnectionState)Interlocked.Exchange(ref _state, (int)ConnectionState.Closed);
            link = _link;
            if (link is not null)
            {
                link.Failed = true;
                link.Queue.Writer.TryComplete();
            }
        }
        if (old != ConnectionState.Closed)
        {
            OnStateChanged(old, ConnectionState.Closed, reason is OperationCanceledException or ObjectDisposedException ? null : error);
        }
        _lifetime.Cancel();
        if (link is not null)
        {
            link.Credits.Fail(error);
            link.Shutdown();
        }
        if (link is not null)
        {
            FailPending(link, _ => error, SmbInstruments.ReasonConnectionClosed);
        }
        _readyWaiters.TrySetException(error);
    }

    public async ValueTask DisposeAsync()
    {
        Close(new ObjectDisposedException(nameof(SmbConnection), "The connection was closed by its owner."));
        var link = _link;
        try
        {
            await Task.WhenAll(link?.Reader ?? Task.CompletedTask, link?.Writer ?? Task.CompletedTask, _timerTask, _reconnectTask).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException or SmbException)
        {
            // The loops end by failing; the reason was already reported through Close.
        }
        _lifetime.Dispose();
    }

    private static Channel<OutgoingItem> NewSendQueue() =>
        Channel.CreateUnbounded<OutgoingItem>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    /// <summary>One unit for the writer: a request or compound chain, or a CANCEL for a request.</summary>
    private sealed record OutgoingItem(PendingRequest[]? Members, PendingRequest? CancelTarget);

    /// <summary>
    /// What dies with a socket: the stream, the send queue and both loops, the MessageId
    /// sequence and the credits. A reconnect makes a new one; the connection object stays.
    /// </summary>
    private sealed class Link(Stream stream, CancellationTokenSource cancellation)
    {
        public Stream Stream { get; } = stream;
        public Channel<OutgoingItem> Queue { get; } = NewSendQueue();
        public CreditManager Credits { get; } = new(initialBalance: 1);
        public ConcurrentDictionary<ulong, PendingRequest> Pending { get; } = new();
        public CancellationTokenSource Cancellation { get; } = cancellation;
        public ulong NextMessageId { get; set; }
        public bool Failed { get; set; }
        public Task Reader { get; set; } = Task.CompletedTask;
        public Task Writer { get; set; } = Task.CompletedTask;

        /// <summary>The reader's pipe for splicing READ data into files (<see cref="SpliceFor"/>); the reader disposes it.</summary>
        public SplicePipe? Splice { get; set; }

        public bool SpliceTried { get; set; }

        public void Shutdown()
        {
            try
            {
                Cancellation.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already gone.
            }
            Stream.Dispose();
        }
    }
}

using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// One SMB connection to one server, surviving reconnects: the state machine, readiness, reconnect, the liveness
/// policy, NEGOTIATE and the public send. What dies with a socket (stream, loops, pending requests, MessageIds,
/// credits) is the current <see cref="SmbLink"/>; a reconnect replaces it. Split by concern into partial files:
/// <c>.Liveness</c>, <c>.Negotiate</c>, <c>.Reconnect</c>, <c>.Encryption</c>.
/// </summary>
internal sealed partial class SmbConnection : IAsyncDisposable, ILinkOwner
{
    /// <summary>Guards the state with the current link and the readiness waiters.</summary>
    private readonly object _stateLock = new();
    private readonly IMessageFamily _family;
    private readonly ILogger _logger;
    private readonly TransportMetrics _metrics;
    private readonly List<Action<ServerMessage>> _serverMessageHandlers = [];

    /// <summary>
    /// Server-initiated messages waiting for the handlers (each a copy of its message), bounded: see
    /// <see cref="MaxQueuedServerMessages"/>. One loop, started with the first message, hands them over in order.
    /// </summary>
    private readonly System.Threading.Channels.Channel<ServerMessage> _serverMessages =
        System.Threading.Channels.Channel.CreateBounded<ServerMessage>(new System.Threading.Channels.BoundedChannelOptions(MaxQueuedServerMessages)
        {
            SingleReader = true,
            FullMode = System.Threading.Channels.BoundedChannelFullMode.Wait, // TryWrite then fails, and the reader drops the message
        });
    private int _serverMessageLoopStarted;
    private long _serverMessagesDropped;
    private readonly CancellationTokenSource _lifetime = new();
    private SmbLink? _link;
    private int _state = (int)ConnectionState.Created;
    private Exception? _failure;
    private Task _timerTask = Task.CompletedTask;

    /// <summary>Requests with a <see cref="FileSink"/> whose callers still wait (the reader then reads frame heads with splicing in mind).</summary>
    private int _sinkRequests;

    public SmbConnection(string host, int port, ConnectionSettings settings, IMessageFamily? family = null)
    {
        Host = host;
        Port = port;
        Settings = settings;
        _family = family ?? Smb2MessageFamily.Instance;
        _logger = settings.LoggerFactory.CreateLogger<SmbConnection>();
        _metrics = new TransportMetrics(host, port);
    }

    public string Host { get; }
    public int Port { get; }
    public ConnectionSettings Settings { get; }

    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Requests sent and not yet answered (including abandoned ones).</summary>
    public int InFlightCount => _link?.InFlight ?? 0;

    /// <summary>Requests with a <see cref="FileSink"/> not yet completed (tests).</summary>
    internal int SinkRequestsInFlight => Volatile.Read(ref _sinkRequests);

    int ILinkOwner.SinkRequests => Volatile.Read(ref _sinkRequests);

    /// <summary>Highest credit balance the server granted; upper layers size I/O so one request fits.</summary>
    public long CreditHighWaterMark => _link?.CreditHighWaterMark ?? 0;

    /// <summary>READ data the reader has put straight into files (<see cref="FileSink"/>), on every link so far.</summary>
    public long BytesReadIntoFiles => _metrics.BytesIntoFiles;

    /// <summary>WRITE data the writer has sent straight from local files (<see cref="FileRange"/>, sendfile), on every link so far.</summary>
    public long BytesSentFromFiles => _metrics.BytesFromFiles;

    /// <summary>Time since the last byte arrived from the server.</summary>
    public TimeSpan SinceLastReceive => _link?.Clock.SinceLastReceive ?? TimeSpan.Zero;

    /// <summary>What NEGOTIATE settled; null before.</summary>
    public NegotiatedParameters? Negotiated { get; private set; }

    /// <summary>server.address and server.port, the tags every instrument carries.</summary>
    internal System.Diagnostics.TagList ServerTags() => _metrics.ServerTags();

    /// <summary>
    /// Most server-initiated messages waiting for the handlers at once, per connection (across its links). Each is at
    /// most <see cref="SmbLink.MaxServerMessageSize"/> bytes, so a server flooding breaks makes us hold at most 1 MiB;
    /// past this, messages are dropped and logged (a break left unacknowledged the server times out itself, MS-SMB2
    /// §3.3.2.1, §3.3.2.5).
    /// </summary>
    internal const int MaxQueuedServerMessages = 1024;

    /// <summary>Registers a callback for server-initiated messages (oplock/lease breaks). It runs off the reader loop with its own copy of the message.</summary>
    public void RegisterServerMessageHandler(Action<ServerMessage> handler)
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
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        return await DirectTcp.ConnectAsync(Settings.ServerAddress?.ToString() ?? Host, Port, timeout, linked.Token).ConfigureAwait(false);
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
    /// open or break the connection (an ASP.NET request's context, a logging scope, the call's trace span) alive, and
    /// visible, for the connection's whole life.
    /// </summary>
    internal static Task RunInBackground(Func<Task> loop)
    {
        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(loop);
        }
    }

    /// <summary>A fresh link: new socket stream, new loops, MessageIds from 0, one credit.</summary>
    private SmbLink StartLink(Stream stream)
    {
        var link = new SmbLink(stream, this, $"{Host}:{Port}", Settings, _family, _logger, _metrics, _lifetime.Token);
        lock (_stateLock)
        {
            _link = link;
        }
        link.Start();
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
        PendingRequest[] members = [new PendingRequest(body, context, CreditChargeFor(body.PayloadSize))];
        if (context.Sink is null)
        {
            return SendMembers(members, priority, cancellationToken)[0];
        }
        // While such requests are out, the reader looks at large frames for data it can splice into a file.
        Interlocked.Increment(ref _sinkRequests);
        var sent = SendMembers(members, priority, cancellationToken)[0];
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
        return SendMembers(members, priority: false, cancellationToken);
    }

    private Task<SmbResponse>[] SendMembers(PendingRequest[] members, bool priority, CancellationToken cancellationToken)
    {
        Task sent;
        try
        {
            sent = UsableLinkFor(members[0].Context).SendAsync(members, priority, cancellationToken);
        }
        catch (Exception ex)
        {
            sent = Task.FromException(ex);
        }
        var tasks = new Task<SmbResponse>[members.Length];
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

    /// <summary>The link a request may use now: Ready, or recovering for the recovery's own requests; otherwise a not-sent connection-lost error.</summary>
    private SmbLink UsableLinkFor(RequestContext context)
    {
        var state = State;
        var link = _link;
        var allowed = state == ConnectionState.Ready
            || (context.DuringSetup && state is ConnectionState.Negotiating or ConnectionState.Reconnecting);
        return allowed && link is not null ? link : throw NotSentError();
    }

    Exception ILinkOwner.NotSentError() => NotSentError();

    private SmbConnectionException NotSentError()
    {
        if (State == ConnectionState.Closed || !Settings.Reconnect)
        {
            return UnusableError();
        }
        return new SmbConnectionLostException($"Connection to {Host}:{Port} is {State.ToString().ToLowerInvariant()}; the request was not sent.", wasSent: false, _lastLoss);
    }

    /// <summary>MS-SMB2 §3.1.5.2: one credit per 64 KiB of payload with large MTU; the 2.0.2 header field stays 0.</summary>
    private ushort CreditChargeFor(int payloadSize) =>
        Negotiated?.SupportsLargeMtu == true ? (ushort)Math.Max(1, (payloadSize + 65535) / 65536) : (ushort)0;

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

    /// <summary>Raised (on the thread pool) after every state change, with the error and the reason for a loss.</summary>
    public event Action<ConnectionStateChange>? StateChanged;

    private void OnStateChanged(ConnectionState from, ConnectionState to, Exception? reason, SmbConnectionLossReason kind = SmbConnectionLossReason.NetworkError)
    {
        _metrics.RecordStateChange(from, to);
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
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.handler(s.change), (handler, change: new ConnectionStateChange(from, to, reason, kind)), preferLocal: false);
        }
    }

    /// <summary>
    /// The current link failed (EOF, reset, dead by liveness, protocol error). A reconnect attempt's own link: the
    /// reconnect loop tries again. The Ready link: Disconnected, and the reconnect loop starts. Otherwise (no
    /// reconnect, or lost while setting up) the connection closes.
    /// </summary>
    Exception? ILinkOwner.OnLinkFailed(Exception error, SmbConnectionLossReason reason)
    {
        var canReconnect = Settings.Reconnect && !_lifetime.IsCancellationRequested && _failure is null;
        if (canReconnect && State == ConnectionState.Reconnecting)
        {
            return null;
        }
        if (!canReconnect || State != ConnectionState.Ready)
        {
            Close(error, reason);
            return _failure ?? error;
        }
        _lastLoss = error;
        _lastLossReason = reason;
        lock (_stateLock)
        {
            Interlocked.Exchange(ref _unusableSinceTicks, Environment.TickCount64);
            if (_readyWaiters.Task.IsCompleted)
            {
                _readyWaiters = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Disconnected, (int)ConnectionState.Ready) == (int)ConnectionState.Ready)
        {
            OnStateChanged(ConnectionState.Ready, ConnectionState.Disconnected, error, reason);
            _reconnectTask = RunInBackground(() => ReconnectLoopAsync(_lifetime.Token));
        }
        return null;
    }

    bool ILinkOwner.WritesChannelSequence => Negotiated?.Dialect.IsSmb3() == true;

    void ILinkOwner.OnServerMessage(ReadOnlySpan<byte> message, ulong? decryptedFor)
    {
        bool any;
        lock (_serverMessageHandlers)
        {
            any = _serverMessageHandlers.Count > 0;
        }
        if (!any)
        {
            _logger.ServerMessageDropped();
            return;
        }
        if (Interlocked.Exchange(ref _serverMessageLoopStarted, 1) == 0)
        {
            _ = RunInBackground(() => ServerMessageLoopAsync(_lifetime.Token));
        }
        // Off the reader loop, so a slow handler does not stall the responses behind it; bounded, so a server sending
        // breaks faster than they are handled makes us hold at most MaxQueuedServerMessages of them.
        if (!_serverMessages.Writer.TryWrite(new ServerMessage(message.ToArray(), decryptedFor)))
        {
            var dropped = Interlocked.Increment(ref _serverMessagesDropped);
            if ((dropped & (dropped - 1)) == 0)
            {
                // Logged at the 1st, 2nd, 4th, 8th … drop: a flood does not flood the log too.
                _logger.ServerMessageOverflow(Host, Port, MaxQueuedServerMessages, dropped);
            }
        }
    }

    /// <summary>Server-initiated messages dropped because <see cref="MaxQueuedServerMessages"/> were waiting (tests, diagnostics).</summary>
    internal long ServerMessagesDropped => Interlocked.Read(ref _serverMessagesDropped);

    /// <summary>Hands each queued server-initiated message to every handler, in arrival order, until the connection ends.</summary>
    private async Task ServerMessageLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _serverMessages.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                Action<ServerMessage>[] handlers;
                lock (_serverMessageHandlers)
                {
                    handlers = [.. _serverMessageHandlers];
                }
                foreach (var handler in handlers)
                {
                    try
                    {
                        handler(message);
                    }
                    catch (Exception ex)
                    {
                        _logger.ServerMessageHandlerFailed(ex);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The connection was disposed.
        }
    }

    /// <summary>
    /// Tears the connection down for good: every waiter fails with <paramref name="reason"/>
    /// (wrapped as a connection error when it is not already an SMB error). No reconnect follows.
    /// </summary>
    internal void Close(Exception reason, SmbConnectionLossReason kind = SmbConnectionLossReason.NetworkError)
    {
        Exception error = reason as SmbException ?? new SmbConnectionException($"Connection to {Host}:{Port} lost: {reason.Message}", reason);
        SmbLink? link;
        ConnectionState old;
        lock (_stateLock)
        {
            if (_failure is not null)
            {
                return;
            }
            _failure = error;
            old = (ConnectionState)Interlocked.Exchange(ref _state, (int)ConnectionState.Closed);
            link = _link;
        }
        if (old != ConnectionState.Closed)
        {
            OnStateChanged(old, ConnectionState.Closed, reason is OperationCanceledException or ObjectDisposedException ? null : error, kind);
        }
        _lifetime.Cancel();
        link?.Close(error);
        _readyWaiters.TrySetException(error);
    }

    public async ValueTask DisposeAsync()
    {
        Close(new ObjectDisposedException(nameof(SmbConnection), "The connection was closed by its owner."));
        try
        {
            await Task.WhenAll(_link?.Loops ?? Task.CompletedTask, _timerTask, _reconnectTask).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException or SmbException)
        {
            // The loops end by failing; the reason was already reported through Close.
        }
        _lifetime.Dispose();
    }
}

using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// One SMB connection to one server: many requests in flight, one reader loop that completes
/// waiters by MessageId, one writer loop that serialises sends, credits, interim replies,
/// server-initiated messages and cancellation. Split by concern into partial files:
/// <c>.Writer</c>, <c>.Reader</c>, <c>.Timers</c>, <c>.Negotiate</c>.
/// </summary>
internal sealed partial class SmbConnection : IAsyncDisposable
{
    private readonly ConcurrentDictionary<ulong, PendingRequest> _pending = new();
    private readonly object _sendLock = new();
    private readonly IMessageFamily _family;
    private readonly ILogger _logger;
    private readonly List<Action<ReadOnlyMemory<byte>>> _serverMessageHandlers = [];
    private readonly CancellationTokenSource _lifetime = new();
    private CreditManager _credits;
    private Channel<OutgoingItem> _sendQueue;
    private Stream? _stream;
    private Socket? _socket;
    private ulong _nextMessageId;
    private int _state = (int)ConnectionState.Created;
    private Exception? _failure;
    private Task _readerTask = Task.CompletedTask;
    private Task _writerTask = Task.CompletedTask;
    private Task _timerTask = Task.CompletedTask;
    private long _lastReceiveTicks;

    public SmbConnection(string host, int port, ConnectionSettings settings, IMessageFamily? family = null)
    {
        Host = host;
        Port = port;
        Settings = settings;
        _family = family ?? Smb2MessageFamily.Instance;
        _logger = settings.LoggerFactory.CreateLogger<SmbConnection>();
        _credits = new CreditManager(initialBalance: 1);
        _sendQueue = NewSendQueue();
    }

    public string Host { get; }
    public int Port { get; }
    public ConnectionSettings Settings { get; }

    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>Requests sent and not yet answered (including abandoned ones).</summary>
    public int InFlightCount => _pending.Count;

    /// <summary>Credits granted and not yet used.</summary>
    public long CreditBalance => _credits.Balance;

    /// <summary>Highest credit balance the server granted; upper layers size I/O so one request fits.</summary>
    public long CreditHighWaterMark => _credits.HighWaterMark;

    /// <summary>Time since the last byte arrived from the server.</summary>
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
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Settings.ConnectTimeout);
        try
        {
            // An address literal connects directly: the host-name overload goes through name resolution first (tens of ms at start-up).
            if (System.Net.IPAddress.TryParse(Host, out var address))
            {
                await socket.ConnectAsync(new System.Net.IPEndPoint(address, Port), timeout.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var error = new SmbConnectionException($"Connecting to {Host}:{Port} timed out after {Settings.ConnectTimeout.TotalSeconds:0.#} s.");
            Close(error);
            throw error;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var error = new SmbConnectionException($"Cannot connect to {Host}:{Port}: {ex.Message}", ex);
            Close(error);
            throw error;
        }
        catch
        {
            socket.Dispose();
            Close(new OperationCanceledException());
            throw;
        }
        socket.ReceiveBufferSize = Math.Max(socket.ReceiveBufferSize, 4 * 1024 * 1024);
        socket.SendBufferSize = Math.Max(socket.SendBufferSize, 4 * 1024 * 1024);
        _socket = socket;
        Start(new NetworkStream(socket, ownsSocket: true));
    }

    /// <summary>Runs the connection over an already open stream (tests use this with a scripted peer).</summary>
    public void Start(Stream stream)
    {
        if (State == ConnectionState.Created)
        {
            Transition(ConnectionState.Created, ConnectionState.Connecting);
        }
        _stream = stream;
        Interlocked.Exchange(ref _lastReceiveTicks, Environment.TickCount64);
        Transition(ConnectionState.Connecting, ConnectionState.Negotiating);
        _readerTask = Task.Run(() => ReadLoopAsync(stream, _lifetime.Token));
        _writerTask = Task.Run(() => WriteLoopAsync(stream, _sendQueue.Reader, _lifetime.Token));
        _timerTask = Task.Run(() => TimerLoopAsync(_lifetime.Token));
    }

    /// <summary>Marks the connection usable (after NEGOTIATE, or directly in tests).</summary>
    public void MarkReady(NegotiatedParameters? negotiated)
    {
        Negotiated = negotiated ?? Negotiated;
        Transition(ConnectionState.Negotiating, ConnectionState.Ready);
    }

    /// <summary>
    /// Sends one request and waits for its final response. The caller owns (and disposes) the
    /// response, whatever its status. Cancellation: before the request is on the wire it is
    /// dropped; after, an SMB2 CANCEL goes out and the caller waits up to
    /// <see cref="ConnectionSettings.CancelGrace"/>: a response that arrives is returned
    /// (the server acted on it); STATUS_CANCELLED or silence ends in <see cref="OperationCanceledException"/>.
    /// </summary>
    public Task<SmbResponse> SendAsync(ISmb2Request body, RequestContext context, CancellationToken cancellationToken, bool priority = false)
    {
        var pending = new PendingRequest(body, context, CreditChargeFor(body.PayloadSize));
        return SendCoreAsync([pending], priority, cancellationToken)[0];
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
        ThrowIfUnusable();
        var totalCharge = 0;
        foreach (var m in members)
        {
            m.SetState(RequestState.Queued);
            totalCharge += Math.Max((int)m.CreditCharge, 1);
        }
        // Queued: waiting for credits. A cancellation here means nothing went on the wire.
        await _credits.AcquireAsync(totalCharge, members.Length, priority, cancellationToken).ConfigureAwait(false);
        lock (_sendLock)
        {
            if (State is ConnectionState.Closed || _failure is not null)
            {
                _credits.Return(totalCharge, members.Length);
                throw UnusableError();
            }
            var now = Environment.TickCount64;
            foreach (var m in members)
            {
                m.MessageId = _nextMessageId;
                _nextMessageId += (ulong)Math.Max((int)m.CreditCharge, 1);
                m.CreditRequest = CreditRequestFor(m.CreditCharge);
                var timeout = m.Context.Timeout ?? Settings.RequestTimeout;
                m.DeadlineTicks = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : now + (long)timeout.TotalMilliseconds;
                m.SetState(RequestState.Sent);
                _pending[m.MessageId] = m;
            }
            if (!_sendQueue.Writer.TryWrite(new OutgoingItem(members, null)))
            {
                foreach (var m in members)
                {
                    _pending.TryRemove(m.MessageId, out _);
                }
                throw UnusableError();
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

    /// <summary>MS-SMB2 §3.1.5.2: one credit per 64 KiB of payload with large MTU; the 2.0.2 header field stays 0.</summary>
    private ushort CreditChargeFor(int payloadSize)
    {
        if (!LargeMtu)
        {
            return 0;
        }
        return (ushort)Math.Max(1, (payloadSize + 65535) / 65536);
    }

    private ushort CreditRequestFor(ushort charge)
    {
        var held = _credits.Balance + _pending.Count;
        var deficit = Settings.TargetCredits - held;
        var extra = deficit > 0 ? Math.Min(deficit, 256) : 0;
        return (ushort)Math.Min(ushort.MaxValue, Math.Max((int)charge, 1) + extra);
    }

    private void ThrowIfUnusable()
    {
        if (State is ConnectionState.Closed || _failure is not null)
        {
            throw UnusableError();
        }
    }

    private Exception UnusableError() =>
        _failure as SmbException is { } smb
            ? new SmbConnectionException($"Connection to {Host}:{Port} is closed: {smb.Message}", smb)
            : new SmbConnectionException($"Connection to {Host}:{Port} is closed.", _failure);

    private void Transition(ConnectionState from, ConnectionState to)
    {
        if (Interlocked.CompareExchange(ref _state, (int)to, (int)from) != (int)from)
        {
            throw new InvalidOperationException($"Connection to {Host}:{Port} is {State}, cannot go from {from} to {to}.");
        }
        _logger.LogDebug("Connection {Host}:{Port} changing from {Old} to {New}", Host, Port, from, to);
    }

    /// <summary>
    /// Tears the connection down once: every waiter fails with <paramref name="reason"/>
    /// (wrapped as a connection error when it is not already an SMB error).
    /// </summary>
    internal void Close(Exception reason)
    {
        Exception error = reason as SmbException ?? new SmbConnectionException($"Connection to {Host}:{Port} lost: {reason.Message}", reason);
        lock (_sendLock)
        {
            if (_failure is not null)
            {
                return;
            }
            _failure = error;
            var old = (ConnectionState)Interlocked.Exchange(ref _state, (int)ConnectionState.Closed);
            if (old != ConnectionState.Closed)
            {
                if (reason is OperationCanceledException || reason is ObjectDisposedException)
                {
                    _logger.LogDebug("Connection {Host}:{Port} changing from {Old} to Closed", Host, Port, old);
                }
                else
                {
                    _logger.LogWarning("Connection {Host}:{Port} changing from {Old} to Closed: {Reason}", Host, Port, old, error.Message);
                }
            }
            _sendQueue.Writer.TryComplete();
        }
        _credits.Fail(error);
        _lifetime.Cancel();
        try
        {
            _socket?.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
        _stream?.Dispose();
        foreach (var (id, p) in _pending)
        {
            if (_pending.TryRemove(id, out _))
            {
                p.SetState(RequestState.Failed);
                p.CancellationRegistration.Dispose();
                p.Completion.TrySetException(error);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close(new ObjectDisposedException(nameof(SmbConnection), "The connection was closed by its owner."));
        try
        {
            await Task.WhenAll(_readerTask, _writerTask, _timerTask).ConfigureAwait(false);
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
}

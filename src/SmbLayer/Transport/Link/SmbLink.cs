using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>What a link needs from the connection that owns it.</summary>
internal interface ILinkOwner
{
    /// <summary>
    /// The link failed (end of stream, reset, dead by liveness, protocol error). Called once, after the link stopped
    /// taking requests and before its outstanding ones end. Returns null when they end as lost (the session layer may
    /// replay them on the next link), or the error they fail with when the connection closes for good.
    /// </summary>
    Exception? OnLinkFailed(Exception error, SmbConnectionLossReason reason);

    /// <summary>The error for a request refused before anything of it went on the wire.</summary>
    Exception NotSentError();

    /// <summary>
    /// A server-initiated message (oplock or lease break); runs on the reader, so it copies what it keeps.
    /// <paramref name="decryptedFor"/> is the session whose keys decrypted it, null when it came in plaintext.
    /// </summary>
    void OnServerMessage(ReadOnlySpan<byte> message, ulong? decryptedFor);

    /// <summary>The keys that decrypt a TRANSFORM frame for <paramref name="sessionId"/>, or null.</summary>
    IMessageTransform? TransformFor(ulong sessionId);

    /// <summary>True once a 3.x dialect is negotiated: requests carry the ChannelSequence in the Status field.</summary>
    bool WritesChannelSequence { get; }

    /// <summary>Requests with a <see cref="FileSink"/> whose callers still wait (the reader then reads frame heads with splicing in mind).</summary>
    int SinkRequests { get; }
}

/// <summary>
/// What lives and dies with one socket: the stream, the send queue and the writer that drains it, the reader that
/// completes waiters by MessageId, the pending-request table, the MessageId sequence and the credits. It reports its
/// failure to its owner exactly once; after that it takes no request and delivers no answer, so a late frame from a
/// dead socket cannot touch the link that replaced it. A reconnect makes a new link; the connection object stays.
/// Split by concern: this file (sending, expiry, cancellation, failure), <c>.Reader</c>, <c>.Writer</c>.
/// </summary>
internal sealed partial class SmbLink
{
    /// <summary>Guards sending against failing: MessageIds, the pending entries of a send, the queue's completion.</summary>
    private readonly object _lock = new();
    private readonly Stream _stream;
    private readonly Socket? _socket;
    private readonly ILinkOwner _owner;
    private readonly ConnectionSettings _settings;
    private readonly IMessageFamily _family;
    private readonly ILogger _logger;
    private readonly TransportMetrics _metrics;
    private readonly CancellationTokenSource _cancellation;
    private readonly Channel<OutgoingItem> _queue =
        Channel.CreateUnbounded<OutgoingItem>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly ConcurrentDictionary<ulong, PendingRequest> _pending = new();
    private readonly CreditManager _credits = new(initialBalance: 1);
    private ulong _nextMessageId;
    private volatile bool _failed;

    // What the server has taken of our bytes (DESIGN §5: the server is judged on what it received). The writer counts
    // what it wrote and where each frame ends; the timer samples how much of that the kernel's send buffer still holds.
    private long _streamOffset;
    private long _bytesWritten;
    private long _probeWireEnd;
    private long _probeDeliveredTicks;
    private long _acknowledged;
    private long _lastUnacknowledged;

    /// <summary>The kernel's acknowledged-byte count when the link started (the handshake may count in it), or 0.</summary>
    private readonly long _ackedAtStart;
    private long _lastSendProgressTicks = Environment.TickCount64;
    private long _lastSampleTicks;
    private long _lastSampleAcknowledged;
    private bool _lastSampleBacklogged;
    private long _sendRate;

    /// <summary>Shortest interval (ms) a send-rate sample is taken over.</summary>
    private const long MinimumRateInterval = 200;
    private Task _reader = Task.CompletedTask;
    private Task _writer = Task.CompletedTask;

    public SmbLink(Stream stream, ILinkOwner owner, string peer, ConnectionSettings settings, IMessageFamily family, ILogger logger,
        TransportMetrics metrics, CancellationToken lifetime)
    {
        _stream = stream;
        _socket = (stream as NetworkStream)?.Socket;
        _ackedAtStart = SendQueue.BytesAcked(_socket) ?? 0;
        _owner = owner;
        Peer = peer;
        _settings = settings;
        _family = family;
        _logger = logger;
        _metrics = metrics;
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(lifetime);
    }

    /// <summary>"host:port", for messages.</summary>
    public string Peer { get; }

    public ReceiveClock Clock { get; } = new();

    /// <summary>Cancelled when the link fails or its connection closes.</summary>
    public CancellationToken Token => _cancellation.Token;

    /// <summary>True once the link has failed or been closed (set under the lock, read without it).</summary>
    public bool Failed => _failed;

    /// <summary>Requests sent and not yet answered (including abandoned ones).</summary>
    public int InFlight => _pending.Count;

    /// <summary>Requests with a <see cref="FileSink"/> whose callers still wait, on this connection.</summary>
    public int SinkRequests => _owner.SinkRequests;

    /// <summary>Highest credit balance the server granted.</summary>
    public long CreditHighWaterMark => _credits.HighWaterMark;

    /// <summary>Requests wait for credits that no outstanding answer will bring (see <see cref="CreditManager.IsStalled"/>).</summary>
    public bool CreditsStalled => _credits.IsStalled;

    /// <summary>A request is outstanding whose caller still waits (an abandoned one does not count).</summary>
    public bool HasActiveRequests
    {
        get
        {
            foreach (var (_, p) in _pending)
            {
                if (!p.Abandoned)
                {
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>Whether bytes from the server wait in the socket's receive buffer, not yet read by the reader.</summary>
    public bool HasUnreadBytes
    {
        get
        {
            try
            {
                return _socket is { } socket && socket.Available > 0;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                return false;
            }
        }
    }

    /// <summary>Bytes written whose TCP acknowledgement has not come back (SIOCOUTQ), as last sampled.</summary>
    public long UnacknowledgedBytes => Interlocked.Read(ref _lastUnacknowledged);

    /// <summary>When the server last took bytes from us (its TCP acknowledged more): a link whose peer takes nothing is stuck.</summary>
    public long LastSendProgressTicks => Interlocked.Read(ref _lastSendProgressTicks);

    /// <summary>When the server had the last byte of the outstanding probe (TickCount64 ms), or 0 while it still waits on our side.</summary>
    public long ProbeDeliveredTicks => Interlocked.Read(ref _probeDeliveredTicks);

    /// <summary>The rate at which the server took our bytes while we had more to send (bytes/s, smoothed); 0 until measured.</summary>
    public long SendRate => Interlocked.Read(ref _sendRate);

    /// <summary>A probe is about to be queued: its delivery is judged from now.</summary>
    public void ExpectProbe()
    {
        Interlocked.Exchange(ref _probeWireEnd, 0);
        Interlocked.Exchange(ref _probeDeliveredTicks, 0);
    }

    /// <summary>
    /// Samples what the server has taken of our bytes: written minus what the kernel's send buffer holds unacknowledged
    /// (SIOCOUTQ). Notes progress, when the probe and each request reached the server, and the send rate while backlogged.
    /// Runs on the timer loop only.
    /// </summary>
    public void SampleSend(long now)
    {
        var written = Interlocked.Read(ref _bytesWritten);
        var unacknowledged = SendQueue.Unacknowledged(_socket);
        Interlocked.Exchange(ref _lastUnacknowledged, unacknowledged);
        var previous = Interlocked.Read(ref _acknowledged);
        // The kernel's own count where it has one: what we wrote minus the queue stands still while a large write is
        // blocked (the buffer refills from it as fast as it drains), which read as no progress on a slow uplink.
        var acknowledged = Math.Max(previous, SendQueue.BytesAcked(_socket) - _ackedAtStart ?? written - unacknowledged);
        Interlocked.Exchange(ref _acknowledged, acknowledged);
        if (acknowledged > previous)
        {
            Interlocked.Exchange(ref _lastSendProgressTicks, now);
        }
        // The rate is measured only over intervals the socket was backlogged at both ends: otherwise it measures how much
        // we had to send, not how fast the path carries it.
        var backlogged = unacknowledged >= SendQueue.BackloggedBytes;
        var interval = now - _lastSampleTicks;
        if (interval >= MinimumRateInterval || !backlogged)
        {
            // Ticks that come close together (a timer catching up) would turn one socket read into a burst rate: the
            // interval is at least MinimumRateInterval.
            if (backlogged && _lastSampleBacklogged)
            {
                var sample = (acknowledged - _lastSampleAcknowledged) * 1000 / interval;
                var rate = Interlocked.Read(ref _sendRate);
                Interlocked.Exchange(ref _sendRate, rate == 0 ? sample : (rate * 3 + sample) / 4);
            }
            _lastSampleBacklogged = backlogged;
            _lastSampleTicks = now;
            _lastSampleAcknowledged = acknowledged;
        }
        var probeEnd = Interlocked.Read(ref _probeWireEnd);
        if (probeEnd != 0 && acknowledged >= probeEnd && Interlocked.Read(ref _probeDeliveredTicks) == 0)
        {
            Interlocked.Exchange(ref _probeDeliveredTicks, now);
        }
        foreach (var (_, p) in _pending)
        {
            if (p.SentTicks == 0 && p.WireEnd != 0 && acknowledged >= p.WireEnd)
            {
                MarkDelivered(p, now);
            }
        }
    }

    /// <summary>The server has <paramref name="p"/> (acknowledged, or answered): its timeout starts counting.</summary>
    private static void MarkDelivered(PendingRequest p, long now)
    {
        if (p.SentTicks != 0)
        {
            return;
        }
        p.SentTicks = now;
        if (p.TimeoutMilliseconds != long.MaxValue)
        {
            p.DeadlineTicks = Math.Min(now + p.TimeoutMilliseconds, p.Context.CallDeadline);
        }
    }

    /// <summary>Starts the reader and the writer.</summary>
    public void Start()
    {
        _reader = SmbConnection.RunInBackground(ReadLoopAsync);
        _writer = SmbConnection.RunInBackground(WriteLoopAsync);
    }

    /// <summary>Both loops, for the owner to wait on when it is disposed.</summary>
    public Task Loops => Task.WhenAll(_reader, _writer);

    /// <summary>
    /// Takes credits for <paramref name="members"/> (one request, or a compound chain), gives them MessageIds and queues
    /// them for the writer. Returns once they are queued; each member's <see cref="PendingRequest.Completion"/> then ends
    /// with its answer. A cancellation while waiting for credits means nothing went on the wire.
    /// </summary>
    public async Task SendAsync(PendingRequest[] members, bool priority, CancellationToken cancellationToken)
    {
        if (Failed)
        {
            throw _owner.NotSentError();
        }
        var totalCharge = 0;
        foreach (var m in members)
        {
            m.SetState(RequestState.Queued);
            totalCharge += Math.Max((int)m.CreditCharge, 1);
        }
        var credits = _credits.AcquireAsync(totalCharge, members.Length, priority, cancellationToken);
        if (!credits.IsCompleted)
        {
            _metrics.RecordCreditWait(members.Length);
        }
        await credits.ConfigureAwait(false);
        Enqueue(members);
        foreach (var m in members)
        {
            if (cancellationToken.CanBeCanceled)
            {
                m.CancellationRegistration = cancellationToken.UnsafeRegister(static (state, token) =>
                {
                    var (link, request) = ((SmbLink, PendingRequest))state!;
                    link.OnCallerCancelled(request, token);
                }, (this, m));
            }
        }
    }

    private void Enqueue(PendingRequest[] members)
    {
        lock (_lock)
        {
            if (_failed)
            {
                throw _owner.NotSentError();
            }
            var now = Environment.TickCount64;
            var timestamp = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (var m in members)
            {
                m.MessageId = _nextMessageId;
                _nextMessageId += (ulong)Math.Max((int)m.CreditCharge, 1);
                m.CreditRequest = CreditRequestFor(m.CreditCharge);
                var timeout = m.Context.Timeout ?? _settings.RequestTimeout;
                // Its timeout counts once the server has it (SampleSend): time in our queue and our socket is ours.
                m.QueuedTicks = now;
                m.SentTimestamp = timestamp;
                m.TimeoutMilliseconds = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)timeout.TotalMilliseconds;
                m.DeadlineTicks = m.Context.CallDeadline;
                m.SetState(RequestState.Sent);
                _pending[m.MessageId] = m;
            }
            if (!_queue.Writer.TryWrite(new OutgoingItem(members, null)))
            {
                foreach (var m in members)
                {
                    _pending.TryRemove(m.MessageId, out _);
                }
                throw _owner.NotSentError();
            }
        }
    }

    /// <summary>Asks for enough credits to reach <see cref="ConnectionSettings.TargetCredits"/>, at most 256 more per request.</summary>
    private ushort CreditRequestFor(ushort charge)
    {
        var held = _credits.Balance + _pending.Count;
        var deficit = _settings.TargetCredits - held;
        var extra = deficit > 0 ? Math.Min(deficit, 256) : 0;
        return (ushort)Math.Min(ushort.MaxValue, Math.Max((int)charge, 1) + extra);
    }

    /// <summary>
    /// Fails, with a timeout, every request past its deadline, and sends a CANCEL for it (DESIGN §4, §5). A request's
    /// timeout counts from when the server had it; before that, it waits on our side for as long as the server keeps
    /// taking our bytes (a slow uplink), and fails after its timeout without progress.
    /// </summary>
    public void ExpireOverdue(long now, ConnectionState state)
    {
        var progress = LastSendProgressTicks;
        foreach (var (_, p) in _pending)
        {
            if (p.Abandoned)
            {
                continue;
            }
            var delivered = p.SentTicks != 0;
            var stuck = !delivered && p.TimeoutMilliseconds != long.MaxValue && now - Math.Max(p.QueuedTicks, progress) >= p.TimeoutMilliseconds;
            if (now < p.DeadlineTicks && !stuck)
            {
                continue;
            }
            p.Abandoned = true;
            var error = new SmbTimeoutException(
                (stuck && now < p.DeadlineTicks
                    ? $"{p.Body.Command} (MessageId {p.MessageId}) could not be sent: {Peer} took none of our bytes within its timeout "
                    : $"{p.Body.Command} (MessageId {p.MessageId}) got no answer from {Peer} within " +
                      (p.DeadlineTicks == p.Context.CallDeadline ? "its call's time limit " : "its timeout ")) +
                $"[connection {state}, {_pending.Count} requests in flight, last byte from the server {Clock.SinceLastReceive.TotalSeconds:0.0} s ago, " +
                $"{UnacknowledgedBytes} bytes sent unacknowledged]");
            _logger.RequestExpired(error.Message);
            p.Release(r =>
            {
                if (r.Completion.TrySetException(error))
                {
                    r.SetState(RequestState.Failed);
                    _metrics.RecordUnanswered(r, SmbInstruments.ReasonTimeout);
                }
            }, withdraw: false);
            QueueCancel(p);
        }
    }

    /// <summary>The caller's token fired after the request went on the wire.</summary>
    private void OnCallerCancelled(PendingRequest pending, CancellationToken token)
    {
        if (pending.Completion.Task.IsCompleted || pending.Abandoned)
        {
            return;
        }
        QueueCancel(pending);
        // Short grace for the server's final word: a success that arrives is honoured and returned.
        _ = GraceAsync(pending, token);
    }

    private async Task GraceAsync(PendingRequest pending, CancellationToken token)
    {
        try
        {
            await Task.Delay(_settings.CancelGrace, Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The link failed or the connection closed: the request failed with it.
            return;
        }
        if (!pending.Completion.Task.IsCompleted && !pending.Abandoned)
        {
            pending.Abandoned = true;
            // The caller is released only once the writer no longer reads its memory (PendingRequest.Release).
            pending.Release(r =>
            {
                if (r.Completion.TrySetCanceled(token))
                {
                    r.SetState(RequestState.Cancelled);
                    _metrics.RecordUnanswered(r, SmbInstruments.ReasonCancelled);
                    _logger.CancelGraceExpired(r);
                }
            }, withdraw: false);
        }
    }

    /// <summary>
    /// Queues an SMB2 CANCEL for a request that is on the wire (by MessageId, or by AsyncId once known); at most one per
    /// request. A signed CANCEL is signed under its target's MessageId, and with AES-GMAC (3.1.1) the nonce is made of that
    /// MessageId (MS-SMB2 §3.1.4.1): a second one would reuse the nonce for other bytes, which breaks GMAC. The server
    /// finds the request by MessageId even after it went async (§3.3.5.16), so the first CANCEL is enough.
    /// </summary>
    private void QueueCancel(PendingRequest pending)
    {
        lock (_lock)
        {
            if (_failed || pending.CancelSent || !_pending.TryGetValue(pending.MessageId, out var current) || current != pending)
            {
                return;
            }
            pending.CancelSent = true;
            _queue.Writer.TryWrite(new OutgoingItem(null, pending));
        }
    }

    /// <summary>
    /// The link failed. The first call stops it, tells the owner, and ends every outstanding request: as lost (the
    /// session layer may replay it) or with the owner's final error. Later calls do nothing.
    /// </summary>
    public void Fail(Exception reason, SmbConnectionLossReason kind)
    {
        Exception error = reason as SmbException ?? new SmbConnectionException($"Connection to {Peer} lost: {reason.Message}", reason);
        if (!Stop(abort: true))
        {
            return;
        }
        if (_owner.OnLinkFailed(error, kind) is { } final)
        {
            End(final, SmbInstruments.ReasonConnectionClosed);
            return;
        }
        _credits.Fail(new SmbConnectionLostException($"Connection to {Peer} lost before the request was sent: {error.Message}", wasSent: false, error));
        FailPending(p => new SmbConnectionLostException(
            $"Connection to {Peer} lost while {p.Body.Command} was outstanding: {error.Message}", wasSent: true, error), SmbInstruments.ReasonConnectionLost);
    }

    /// <summary>The owner closes the connection for good: every request fails with <paramref name="error"/>.</summary>
    public void Close(Exception error)
    {
        Stop(abort: false);
        End(error, SmbInstruments.ReasonConnectionClosed);
    }

    /// <summary>
    /// Takes no more requests, ends both loops and closes the socket; true for the first caller only. A failed link is
    /// <paramref name="abort"/>ed: the socket closes with a reset and the kernel drops what it has not yet delivered.
    /// A graceful close would leave the kernel sending those bytes after the outage ends, so requests the session layer
    /// replays on the next link could also reach the server late on this one (a WRITE applied after Samba recorded the
    /// disconnect makes it refuse the durable reclaim).
    /// </summary>
    private bool Stop(bool abort)
    {
        lock (_lock)
        {
            if (_failed)
            {
                return false;
            }
            _failed = true;
            _queue.Writer.TryComplete();
        }
        if (abort)
        {
            AbortSocket();
        }
        try
        {
            _cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }
        _stream.Dispose();
        return true;
    }

    /// <summary>Linger off with a zero timeout: the close that follows sends RST and discards the unsent send queue.</summary>
    private void AbortSocket()
    {
        try
        {
            _socket?.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // Already closed, or the socket refuses the option: the ordinary close follows.
        }
    }

    private void End(Exception error, string reason)
    {
        _credits.Fail(error);
        FailPending(_ => error, reason);
    }

    private void FailPending(Func<PendingRequest, Exception> errorFor, string reason)
    {
        foreach (var (id, p) in _pending)
        {
            if (_pending.TryRemove(id, out _))
            {
                EndWith(p, errorFor(p), linkClosed: true);
                if (!p.Abandoned)
                {
                    // An abandoned request was counted when its caller stopped waiting (timeout, cancellation).
                    _metrics.RecordUnanswered(p, reason);
                }
            }
        }
    }

    /// <summary>Ends <paramref name="request"/> alone with <paramref name="error"/>; the link stays up (or goes down on its own).</summary>
    private void FailOne(PendingRequest request, Exception error)
    {
        if (_pending.TryRemove(request.MessageId, out _))
        {
            EndWith(request, error, linkClosed: false);
        }
    }

    /// <summary>
    /// Ends a request already taken out of the pending table with <paramref name="error"/>: the link failed or is about
    /// to, so one the writer has not reached yet is withdrawn. One it is writing releases its caller when written, or at
    /// once when <paramref name="linkClosed"/> (the closed socket aborts that write).
    /// </summary>
    private static void EndWith(PendingRequest request, Exception error, bool linkClosed)
    {
        request.SetState(RequestState.Failed);
        request.CancellationRegistration.Dispose();
        request.Release(r => r.Completion.TrySetException(error), withdraw: true, linkClosed);
    }

    /// <summary>How a failure that ended one of the loops is reported: a protocol violation, or a network error.</summary>
    private static SmbConnectionLossReason LossReasonOf(Exception error) =>
        error is SmbProtocolException or System.Security.Cryptography.CryptographicException
            ? SmbConnectionLossReason.ProtocolViolation
            : SmbConnectionLossReason.NetworkError;

    /// <summary>One unit for the writer: a request or compound chain, or a CANCEL for a request.</summary>
    private sealed record OutgoingItem(PendingRequest[]? Members, PendingRequest? CancelTarget);
}

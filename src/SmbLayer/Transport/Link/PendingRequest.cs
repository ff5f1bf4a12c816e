using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>Lifecycle of one request ("task"), DESIGN §3.</summary>
internal enum RequestState
{
    Created,
    /// <summary>Waiting for credits or for the connection to be ready; nothing on the wire yet.</summary>
    Queued,
    /// <summary>MessageId assigned and handed to the writer; it will go on the wire.</summary>
    Sent,
    /// <summary>STATUS_PENDING seen; AsyncId known.</summary>
    Interim,
    Completed,
    Cancelled,
    Failed,
}

/// <summary>How far the writer has got with a request's bytes; decides when its caller may be released (item "the writer owns what it sends").</summary>
internal enum WireState
{
    /// <summary>In the send queue; the writer has not touched it.</summary>
    Queued,
    /// <summary>The writer is serialising or writing it: its body and payload are being read.</summary>
    Writing,
    /// <summary>Its bytes are in the kernel's send buffer (or in a buffer of the writer's own); its memory is no longer read.</summary>
    Written,
    /// <summary>Taken back before the writer reached it (the link failed): it never goes on the wire.</summary>
    Withdrawn,
}

/// <summary>One request in flight: what to send, and the waiter for its answer.</summary>
internal sealed class PendingRequest
{
    private int _state = (int)RequestState.Created;
    private readonly object _wireLock = new();
    private WireState _wire;
    private Action<PendingRequest>? _afterWrite;
    private FileRange? _heldRange;

    public PendingRequest(ISmb2Request body, RequestContext context, ushort creditCharge)
    {
        Body = body;
        Context = context;
        CreditCharge = creditCharge;
        Completion = new TaskCompletionSource<SmbResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public ISmb2Request Body { get; }
    public RequestContext Context { get; }
    public ushort CreditCharge { get; }
    public ushort CreditRequest { get; set; }
    public ulong MessageId { get; set; }
    public ulong AsyncId { get; set; }

    /// <summary>The <see cref="AsyncId"/> came with an interim reply that was authenticated (encrypted or verified), or on a session that cannot authenticate any.</summary>
    public bool AsyncIdTrusted { get; set; }

    /// <summary>Extra flags set by the connection (related compound member).</summary>
    public Smb2HeaderFlags ExtraFlags { get; set; }

    /// <summary>
    /// When the server had it (Environment.TickCount64 milliseconds): its TCP peer acknowledged the last byte of its
    /// frame, or it was answered. 0 before. Its timeout counts from here (see <see cref="SmbLink.ExpireOverdue"/>).
    /// </summary>
    public long SentTicks { get; set; }

    /// <summary>When it was queued for the writer (Environment.TickCount64 milliseconds).</summary>
    public long QueuedTicks { get; set; }

    /// <summary>Its timeout in milliseconds (long.MaxValue for none), fixed when it is queued.</summary>
    public long TimeoutMilliseconds { get; set; } = long.MaxValue;

    /// <summary>Where its frame ends in the link's outgoing byte stream; 0 until the writer has taken it.</summary>
    public long WireEnd { get; set; }

    /// <summary>A copy of the caller's payload, made when the caller was released while the request still waited to be sent.</summary>
    public byte[]? OwnedPayload { get; private set; }


    /// <summary>When it was handed to the writer (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>; for the duration metric).</summary>
    public long SentTimestamp { get; set; }

    /// <summary>Monotonic deadline (Environment.TickCount64 milliseconds); long.MaxValue when none.</summary>
    public long DeadlineTicks { get; set; } = long.MaxValue;

    /// <summary>The caller stopped waiting (cancelled or timed out); the entry stays until the server answers.</summary>
    public bool Abandoned { get; set; }

    /// <summary>A CANCEL has been queued for this request.</summary>
    public bool CancelSent { get; set; }

    public TaskCompletionSource<SmbResponse> Completion { get; }

    public CancellationTokenRegistration CancellationRegistration { get; set; }

    public RequestState State => (RequestState)Volatile.Read(ref _state);

    public void SetState(RequestState state) => Volatile.Write(ref _state, (int)state);

    public WireState Wire
    {
        get
        {
            lock (_wireLock)
            {
                return _wire;
            }
        }
    }

    /// <summary>The writer takes the request: Queued → Writing. False when it was withdrawn (it is then skipped).</summary>
    public bool BeginWrite()
    {
        lock (_wireLock)
        {
            if (_wire != WireState.Queued)
            {
                return false;
            }
            _wire = WireState.Writing;
            return true;
        }
    }

    /// <summary>The writer is done reading the request's memory (written, or failed): releases a caller that waited for that.</summary>
    public void EndWrite()
    {
        Action<PendingRequest>? release;
        FileRange? held;
        lock (_wireLock)
        {
            if (_wire is WireState.Written or WireState.Withdrawn)
            {
                return;
            }
            _wire = WireState.Written;
            release = _afterWrite;
            _afterWrite = null;
            held = _heldRange;
            _heldRange = null;
        }
        held?.Release();
        release?.Invoke(this);
    }

    /// <summary>
    /// Runs <paramref name="release"/>, which ends the caller's wait (after which the caller may reuse or return its
    /// buffers), only once the writer can no longer read the caller's memory: at once when the request was written or
    /// not yet taken, after the write when the writer is on it. A request not yet taken is withdrawn when
    /// <paramref name="withdraw"/> (its link failed: it will never be sent); otherwise it will still go on the wire (its
    /// MessageId is spent, and the server may be waiting for it), so its payload is copied first, or its local file
    /// held open, and the copy is sent. When <paramref name="linkClosed"/>, one being written is released at once too: the
    /// link has closed its socket, which aborts the write (a send blocked on a full buffer, as when the peer takes
    /// nothing, would otherwise hold the caller for ever), and the writer takes nothing more.
    /// </summary>
    public void Release(Action<PendingRequest> release, bool withdraw, bool linkClosed = false)
    {
        lock (_wireLock)
        {
            switch (_wire)
            {
                case WireState.Writing when !linkClosed:
                    _afterWrite += release;
                    return;
                case WireState.Queued when withdraw:
                    _wire = WireState.Withdrawn;
                    break;
                case WireState.Queued:
                    TakeOwnershipOfPayload();
                    break;
            }
        }
        release(this);
    }

    /// <summary>The link takes back a request it will never send (the link ended before the writer reached it).</summary>
    public void Withdraw()
    {
        lock (_wireLock)
        {
            if (_wire == WireState.Queued)
            {
                _wire = WireState.Withdrawn;
            }
        }
    }

    private void TakeOwnershipOfPayload()
    {
        if (Body is not ISmb2PayloadRequest p || OwnedPayload is not null || _heldRange is not null)
        {
            return;
        }
        if (!p.Payload.IsEmpty)
        {
            OwnedPayload = p.Payload.ToArray();
        }
        else if (p.PayloadSource is FileRange range)
        {
            // The range's file stays open (shared, reference-counted) until this request is written.
            _heldRange = range.File.Range(range.Offset, range.Length);
        }
    }

    public bool TryTransition(RequestState from, RequestState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    public override string ToString() => $"{Body.Command} #{MessageId} ({State})";
}

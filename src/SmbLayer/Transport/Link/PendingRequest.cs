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

/// <summary>One request in flight: what to send, and the waiter for its answer.</summary>
internal sealed class PendingRequest
{
    private int _state = (int)RequestState.Created;

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

    /// <summary>Extra flags set by the connection (related compound member).</summary>
    public Smb2HeaderFlags ExtraFlags { get; set; }

    /// <summary>When it was handed to the writer (Environment.TickCount64 milliseconds).</summary>
    public long SentTicks { get; set; }

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

    public bool TryTransition(RequestState from, RequestState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    public override string ToString() => $"{Body.Command} #{MessageId} ({State})";
}

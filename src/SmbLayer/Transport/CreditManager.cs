namespace SmbLayer.Transport;

/// <summary>
/// Credit accounting for one connection (MS-SMB2 §3.2.4.1.5 / §3.2.5.1.4). Requests wait,
/// first come first served, until the server has granted enough credits; they never fail for
/// lack of them. One credit stays in reserve for priority requests (ECHO) so a liveness probe
/// can always go out — but only while other requests are in flight: their replies will bring
/// more credits. With nothing in flight (e.g. right after NEGOTIATE, where Samba grants a
/// single credit) holding the last credit back would wait forever.
/// </summary>
internal sealed class CreditManager
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _balance;
    private int _inFlight;
    private Exception? _failure;

    public CreditManager(int initialBalance)
    {
        _balance = initialBalance;
    }

    /// <summary>Credits held in reserve for priority requests.</summary>
    public const int Reserve = 1;

    public long Balance
    {
        get
        {
            lock (_lock)
            {
                return _balance;
            }
        }
    }

    /// <summary>Highest balance seen; the upper layers size large I/O so one request never needs more.</summary>
    public long HighWaterMark { get; private set; }

    /// <summary>Takes <paramref name="charge"/> credits for <paramref name="requests"/> requests (a compound is several), waiting for grants if needed.</summary>
    public ValueTask AcquireAsync(int charge, int requests, bool priority, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_failure is not null)
            {
                return ValueTask.FromException(_failure);
            }
            if ((priority || _waiters.Count == 0) && CanTake(charge, priority))
            {
                _balance -= charge;
                _inFlight += requests;
                return ValueTask.CompletedTask;
            }
            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter(charge, requests, priority);
            // Priority requests (ECHO) go to the front: a probe must not queue behind bulk I/O.
            waiter.Node = priority ? _waiters.AddFirst(waiter) : _waiters.AddLast(waiter);
        }
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (manager, w) = ((CreditManager, Waiter))state!;
                manager.CancelWaiter(w, token);
            }, (this, waiter));
        }
        return new ValueTask(waiter.Completion.Task);
    }

    /// <summary>Adds credits the server granted and wakes waiters that can now proceed.</summary>
    /// <summary>
    /// True when no credit is left and no request is in flight: nothing the server sends can grant more,
    /// so the connection can never send again (a server must not leave a client without credits, MS-SMB2 §3.3.1.2).
    /// </summary>
    public bool IsStarved
    {
        get
        {
            lock (_lock)
            {
                return _balance <= 0 && _inFlight == 0;
            }
        }
    }

    /// <summary>
    /// True when requests wait for credits and none is in flight, yet a credit is left: no answer is coming
    /// that could grant more (a server may grant fewer than asked, MS-SMB2 §3.3.1.2), so only a request sent
    /// on that last credit can ask for them — otherwise the queue would wait for the next idle probe.
    /// </summary>
    public bool IsStalled
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count > 0 && _inFlight == 0 && _balance > 0;
            }
        }
    }

    public void Grant(int credits) => OnReceived(credits, requestFinished: false);

    /// <summary>
    /// Accounts for one message from the server: the credits it grants, and whether it ends a
    /// request (a final response; interim replies grant credits but finish nothing).
    /// </summary>
    public void OnReceived(int credits, bool requestFinished)
    {
        if (credits <= 0 && !requestFinished)
        {
            return;
        }
        List<Waiter>? released = null;
        lock (_lock)
        {
            if (requestFinished && _inFlight > 0)
            {
                _inFlight--;
            }
            _balance += Math.Max(0, credits);
            if (_balance > HighWaterMark)
            {
                HighWaterMark = _balance;
            }
            while (_waiters.First is { } node && CanTake(node.Value.Charge, node.Value.Priority))
            {
                _balance -= node.Value.Charge;
                _inFlight += node.Value.Requests;
                _waiters.RemoveFirst();
                node.Value.Node = null;
                (released ??= []).Add(node.Value);
            }
        }
        if (released is not null)
        {
            foreach (var w in released)
            {
                w.Registration.Dispose();
                w.Completion.TrySetResult();
            }
        }
    }

    /// <summary>Gives back credits taken for requests that were never sent.</summary>
    public void Return(int credits, int requests)
    {
        lock (_lock)
        {
            _inFlight = Math.Max(0, _inFlight - requests);
        }
        Grant(credits);
    }

    /// <summary>Fails every waiter and every later acquire (the connection is gone).</summary>
    public void Fail(Exception failure)
    {
        List<Waiter> waiters;
        lock (_lock)
        {
            _failure = failure;
            waiters = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var w in waiters)
        {
            w.Node = null;
            w.Registration.Dispose();
            w.Completion.TrySetException(failure);
        }
    }

    /// <summary>Starts over with a fresh balance (after a reconnect).</summary>
    public void Reset(int initialBalance)
    {
        lock (_lock)
        {
            _failure = null;
            _balance = initialBalance;
            _inFlight = 0;
        }
    }

    private bool CanTake(int charge, bool priority) =>
        _balance - charge >= (priority || _inFlight == 0 ? 0 : Reserve);

    private void CancelWaiter(Waiter waiter, CancellationToken token)
    {
        lock (_lock)
        {
            if (waiter.Node is null)
            {
                return;
            }
            _waiters.Remove(waiter.Node);
            waiter.Node = null;
        }
        waiter.Completion.TrySetCanceled(token);
    }

    private sealed class Waiter(int charge, int requests, bool priority)
    {
        public int Charge { get; } = charge;
        public int Requests { get; } = requests;
        public bool Priority { get; } = priority;
        public LinkedListNode<Waiter>? Node { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

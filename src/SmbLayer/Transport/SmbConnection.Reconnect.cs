using Microsoft.Extensions.Logging;

namespace SmbLayer.Transport;

// Reconnect (DESIGN §6): Ready → Disconnected → Reconnecting → Ready | Closed. The first attempt
// goes at once, then exponential steps with jitter capped at ReconnectMaxDelay (about 1 s). An
// attempt is: TCP connect and NEGOTIATE (same ClientGuid; the answer must settle what the first,
// validated one did), bounded together by ReconnectAttemptTimeout, then the recovery steps the
// upper layers registered, each bounded by RecoveryStepTimeout (sessions, then trees); then the
// connection is Ready again, and the handles are reclaimed after it (Session/ConnectionRecovery).
internal sealed partial class SmbConnection
{
    private readonly List<Func<CancellationToken, Task>> _recoverySteps = [];
    private TaskCompletionSource _readyWaiters = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _lastLoss;
    private SmbConnectionLossReason _lastLossReason;
    private long _unusableSinceTicks;
    private Task _reconnectTask = Task.CompletedTask;
    private int _generation;

    /// <summary>Incremented by every successful reconnect; 3.x requests carry it as ChannelSequence.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Successful reconnects so far.</summary>
    public int ReconnectCount => Generation;

    /// <summary>Why the connection was last lost (null if never).</summary>
    public Exception? LastLoss => _lastLoss;

    /// <summary>The kind of the last loss (meaningful once <see cref="LastLoss"/> is set).</summary>
    public SmbConnectionLossReason LastLossReason => _lastLossReason;

    /// <summary>How long the connection has not been usable, or null while Ready.</summary>
    public TimeSpan? UnusableFor
    {
        get
        {
            var since = Interlocked.Read(ref _unusableSinceTicks);
            return State == ConnectionState.Ready || since == 0 ? null : TimeSpan.FromMilliseconds(Environment.TickCount64 - since);
        }
    }

    /// <summary>
    /// Adds a recovery step run, in registration order, after NEGOTIATE on every reconnect. A step
    /// sends its requests with <see cref="RequestContext.DuringSetup"/>. An exception from a step
    /// fails the attempt (the loop tries again), except <see cref="SmbAuthenticationException"/> and
    /// <see cref="SmbSecurityException"/>, which end reconnecting: the connection closes.
    /// </summary>
    public void AddRecoveryStep(Func<CancellationToken, Task> step)
    {
        lock (_recoverySteps)
        {
            _recoverySteps.Add(step);
        }
    }

    /// <summary>
    /// Waits until the connection is Ready. <paramref name="softTimeout"/> null waits through any outage
    /// (hard); otherwise the wait fails with <see cref="SmbTimeoutException"/> once the connection has
    /// been unusable that long (soft), less <paramref name="waitedBefore"/>: what the same call already
    /// spent waiting in earlier outages. Either way it fails with that error at the call's
    /// <paramref name="deadline"/> (monotonic ms; long.MaxValue for none). Throws at once when the
    /// connection is closed for good.
    /// </summary>
    public async Task WaitForReadyAsync(TimeSpan? softTimeout, CancellationToken cancellationToken, TimeSpan waitedBefore = default,
        long deadline = long.MaxValue)
    {
        var waited = waitedBefore;
        while (true)
        {
            TaskCompletionSource waiter;
            lock (_stateLock)
            {
                if (State == ConnectionState.Ready)
                {
                    return;
                }
                if (State == ConnectionState.Closed || (!Settings.Reconnect && State != ConnectionState.Negotiating))
                {
                    throw UnusableError();
                }
                waiter = _readyWaiters;
            }
            var untilDeadline = deadline == long.MaxValue ? Timeout.InfiniteTimeSpan
                : TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64));
            if (untilDeadline == TimeSpan.Zero)
            {
                throw DeadlineError();
            }
            if (softTimeout is { } soft)
            {
                var unusable = UnusableFor ?? TimeSpan.Zero;
                var remaining = soft - waited - unusable;
                if (remaining <= TimeSpan.Zero)
                {
                    throw SoftTimeoutError(soft, waited);
                }
                var byDeadline = untilDeadline != Timeout.InfiniteTimeSpan && untilDeadline < remaining;
                var started = Environment.TickCount64;
                try
                {
                    await waiter.Task.WaitAsync(byDeadline ? untilDeadline : remaining, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw byDeadline ? DeadlineError() : SoftTimeoutError(soft, waited);
                }
                // Ready again; should it be lost again before this caller runs, that outage comes on top.
                waited += unusable + TimeSpan.FromMilliseconds(Environment.TickCount64 - started);
            }
            else
            {
                try
                {
                    await waiter.Task.WaitAsync(untilDeadline, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    throw DeadlineError();
                }
            }
        }
    }

    private SmbTimeoutException DeadlineError() => new(
        $"Connection to {Host}:{Port} still unusable when the call's time limit ran out " +
        $"[state {State}, last byte from the server {SinceLastReceive.TotalSeconds:0.0} s ago, " +
        $"{ReconnectAttempts} reconnect attempts; lost because: {_lastLoss?.Message ?? "unknown"}]", _lastLoss);

    private SmbTimeoutException SoftTimeoutError(TimeSpan soft, TimeSpan waitedBefore) => new(
        $"Connection to {Host}:{Port} unusable for more than the soft timeout of {soft.TotalSeconds:0.#} s " +
        (waitedBefore > TimeSpan.Zero ? $"(this call had already waited {waitedBefore.TotalSeconds:0.0} s through earlier losses) " : "") +
        $"[state {State}, last byte from the server {SinceLastReceive.TotalSeconds:0.0} s ago, " +
        $"{ReconnectAttempts} reconnect attempts; lost because: {_lastLoss?.Message ?? "unknown"}]", _lastLoss);

    /// <summary>Reconnect attempts since the last loss.</summary>
    public int ReconnectAttempts { get; private set; }

    private async Task ReconnectLoopAsync(CancellationToken cancellationToken)
    {
        var delay = Settings.ReconnectInitialDelay;
        ReconnectAttempts = 0;
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Reconnecting, (int)ConnectionState.Disconnected) == (int)ConnectionState.Disconnected)
        {
            OnStateChanged(ConnectionState.Disconnected, ConnectionState.Reconnecting, null);
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            ReconnectAttempts++;
            try
            {
                await ReconnectAttemptAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is SmbAuthenticationException or SmbSecurityException)
            {
                _logger.ReconnectImpossible(Host, Port, ex.Message);
                Close(ex);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _logger.ReconnectAttemptFailed(ReconnectAttempts, Host, Port, ex.Message);
            }
            // Exponential steps with ±25 % jitter, capped small so the client resumes within about a
            // second of the server coming back (sunrpc and NFSv4 grace backoffs reach minutes).
            var jittered = delay.TotalMilliseconds * (0.75 + (Random.Shared.NextDouble() * 0.5));
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(jittered), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Settings.ReconnectMaxDelay.Ticks));
        }
    }

    private async Task ReconnectAttemptAsync(CancellationToken cancellationToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(Settings.ReconnectAttemptTimeout);
        var stream = await OpenSocketAsync(Settings.ReconnectAttemptTimeout < Settings.ConnectTimeout ? Settings.ReconnectAttemptTimeout : Settings.ConnectTimeout,
            attempt.Token).ConfigureAwait(false);
        var link = StartLink(stream);
        try
        {
            // The earlier parameters are the first connect's in every value compared: each reconnect's had to match them.
            // A difference is an SmbSecurityException: the loop closes the connection, nothing more goes out on this link.
            var negotiated = await NegotiateCoreAsync(attempt.Token, validated: Negotiated!).ConfigureAwait(false);
            Negotiated = negotiated;
            Interlocked.Increment(ref _generation);
            // The recovery bounds each of its steps itself: its length grows with the sessions and trees.
            attempt.CancelAfter(Timeout.InfiniteTimeSpan);
            Func<CancellationToken, Task>[] steps;
            lock (_recoverySteps)
            {
                steps = [.. _recoverySteps];
            }
            foreach (var step in steps)
            {
                await step(attempt.Token).ConfigureAwait(false);
            }
            lock (_stateLock)
            {
                if (link.Failed)
                {
                    throw new SmbConnectionException($"Connection to {Host}:{Port} dropped again during recovery.");
                }
                Interlocked.Exchange(ref _unusableSinceTicks, 0);
                Interlocked.Exchange(ref _probeSentTicks, 0);
                Transition(ConnectionState.Reconnecting, ConnectionState.Ready);
                _readyWaiters.TrySetResult();
            }
            _logger.Restored(Host, Port, ReconnectAttempts);
        }
        catch (Exception ex)
        {
            link.Fail(ex, ex is SmbProtocolException ? SmbConnectionLossReason.ProtocolViolation : SmbConnectionLossReason.NetworkError);
            throw;
        }
    }
}

using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>When a request whose fate is unknown after a connection loss may be sent again (DESIGN §6).</summary>
internal enum ReplayRule
{
    /// <summary>Reads and queries: no side effects, re-issue.</summary>
    Always,

    /// <summary>Writes, flushes, idempotent SET_INFO: re-issue on the reclaimed handle (lost handle → handle-lost error).</summary>
    OnReclaimedHandle,

    /// <summary>CREATE on 3.x with a durable CreateGuid: re-issue with SMB2_FLAGS_REPLAY_OPERATION; the server recognises it.</summary>
    CreateWithReplayFlag,

    /// <summary>Side effects that cannot be repeated safely (rename, exclusive create on 2.x): outcome unknown.</summary>
    Never,
}

/// <summary>
/// One request for <see cref="Replayer.RunAsync"/>: where it goes, what may be repeated, how each attempt is
/// built and how the answer is read. A struct: the replay loop keeps it in its own state, nothing per request.
/// </summary>
internal readonly struct ReplayRequest<T>
{
    /// <summary>A request on <paramref name="open"/>'s handle, under the call options the open was created with.</summary>
    public ReplayRequest(SmbOpen open, ReplayRule rule, string what)
        : this(open.Tree, rule, what, open.Call)
    {
        Open = open;
    }

    /// <summary>A request on <paramref name="tree"/> that addresses no handle (a CREATE), under <paramref name="call"/>.</summary>
    public ReplayRequest(SmbTree tree, ReplayRule rule, string what, CallOptions call)
    {
        Tree = tree;
        Rule = rule;
        What = what;
        Call = call;
    }

    public SmbTree Tree { get; }

    /// <summary>The handle the request addresses: once it is lost the call fails; a FILE_CLOSED answer on it is checked.</summary>
    public SmbOpen? Open { get; }

    public ReplayRule Rule { get; }

    /// <summary>What the call does, for its errors ("Reading 'f' at offset 0").</summary>
    public string What { get; }

    /// <summary>What the call does while the connection is down.</summary>
    public CallOptions Call { get; }

    /// <summary>Builds one attempt from the current handle; the argument is true when the server may have seen an earlier one.</summary>
    public required Func<bool, ISmb2Request> Build { get; init; }

    /// <summary>Reads the answer (its status included) into the call's result.</summary>
    public required Func<SmbResponse, T> Complete { get; init; }

    /// <summary>Given a success that arrived after the caller stopped waiting (<see cref="RequestContext.OnAbandonedResponse"/>).</summary>
    public Action<SmbResponse>? OnAbandoned { get; init; }

    /// <summary><see cref="Complete"/> keeps the response when it returns (zero-copy reads dispose it later); otherwise the loop disposes it.</summary>
    public bool CompleteOwnsResponse { get; init; }

    /// <summary>For a READ: the local file the transport may put the data in (<see cref="RequestContext.Sink"/>).</summary>
    public FileSink? Sink { get; init; }
}

/// <summary>
/// Runs one request to completion across connection losses and server "try again" answers:
/// waits for the reconnect under the call's <see cref="CallOptions"/>, rebuilds the request against the
/// recovered session, tree and handle, and replays it only where <see cref="ReplayRule"/> says
/// that is safe. Everything else fails with a typed error, never a silent guess.
/// </summary>
internal static class Replayer
{
    private static async Task WaitForReclaimAsync(Task reclaim, CallOptions call, string what, CancellationToken cancellationToken)
    {
        if (call.Remaining is not { } remaining)
        {
            await reclaim.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            await reclaim.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw call.DeadlineError($"{what} (waiting for its handle to be reclaimed)");
        }
    }

    public static async Task<T> RunAsync<T>(ReplayRequest<T> request, CancellationToken cancellationToken)
    {
        var open = request.Open;
        var connection = request.Tree.Connection;
        var started = Environment.TickCount64;
        var call = request.Call.Begin();
        StatusRecovery? recovery = null; // made only when a recoverable answer arrives: nothing extra per request
        ReconnectWaits? waits = null; // made only when the connection is lost
        var replay = false;
        var fileClosedChecked = false;
        while (true)
        {
            open?.ThrowIfLost(request.What);
            if (call.Expired)
            {
                throw call.DeadlineError(recovery?.LastStatus is { } last ? $"{request.What} (the server last answered {NtStatusText.Describe(last)})" : request.What);
            }
            if (open?.ReclaimPending is { } reclaim)
            {
                // The connection is back but this handle is not yet: wait for its reclaim (bounded by the recovery's
                // step timeout and retry budget, and by the call's deadline), then look again.
                await WaitForReclaimAsync(reclaim, call, request.What, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var context = request.Tree.ContextFor(open, replay, onAbandoned: request.OnAbandoned, sink: request.Sink, callDeadline: call.Deadline);
            var generation = connection.Generation;
            var body = request.Build(replay);
            SmbResponse response;
            try
            {
                response = await connection.SendAsync(body, context, cancellationToken).ConfigureAwait(false);
            }
            catch (SmbConnectionLostException lost)
            {
                replay |= await AwaitRecoveryAsync(connection, lost, request.Rule, request.What, call, waits ??= new(), cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (response.Status == NtStatus.FileClosed && open is { IsClosed: false } && !fileClosedChecked)
            {
                // Once per call: a server that keeps answering FILE_CLOSED on a live connection means it.
                fileClosedChecked = true;
                bool ended;
                try
                {
                    ended = await ConnectionEndedSinceAsync(connection, generation, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    response.Dispose();
                    throw;
                }
                if (ended)
                {
                    // An exiting server closed the handle (keeping it for reclaim) and then answered the request it
                    // had taken: it did not act on it. Send it again once the recovery has reclaimed the handle.
                    response.Dispose();
                    await (waits ??= new()).WaitAsync(connection, call, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }
            if (StatusRecovery.IsRecoverable(response.Status)
                && (recovery ??= new StatusRecovery(request.Tree, call, started)).CanRecover(response.Status))
            {
                var status = response.Status;
                response.Dispose();
                await recovery.RecoverAsync(status, context.SessionId, request.What, body.Command, replay, cancellationToken).ConfigureAwait(false);
                replay |= recovery.SessionRecovered;
                continue;
            }
            if (request.CompleteOwnsResponse)
            {
                // Zero-copy callers keep the pooled response (and dispose it) once Complete returns.
                try
                {
                    return request.Complete(response);
                }
                catch (Exception ex)
                {
                    ReportIfUnreadable(response, ex);
                    response.Dispose();
                    throw;
                }
            }
            using (response)
            {
                try
                {
                    return request.Complete(response);
                }
                catch (Exception ex)
                {
                    ReportIfUnreadable(response, ex);
                    throw;
                }
            }
        }
    }

    /// <summary>
    /// A successful answer <see cref="ReplayRequest{T}.Complete"/> could not read (<see cref="SmbProtocolException"/>) is a
    /// protocol violation: the link it came on is dropped (issue 16 item 8; docs/SECURITY.md), and the caller gets the error.
    /// </summary>
    private static void ReportIfUnreadable(SmbResponse response, Exception error)
    {
        if (error is SmbProtocolException unreadable)
        {
            response.ReportUnreadable(unreadable);
        }
    }

    /// <summary>
    /// Whether the connection a request was answered on (<paramref name="generation"/>) has ended since. A server process
    /// that is going away (Samba's smbd on SIGTERM) closes its opens, keeping durable ones for reclaim, and can answer
    /// requests it had already taken with STATUS_FILE_CLOSED before the connection ends: that answer is about the
    /// ending connection, not the handle. An ECHO tells the two apart: a live connection answers it, an ending one
    /// fails it. Anything else that goes wrong with the ECHO (a timeout, an error status) leaves the answer as it was.
    /// </summary>
    private static async Task<bool> ConnectionEndedSinceAsync(SmbConnection connection, int generation, CancellationToken cancellationToken)
    {
        if (connection.Generation != generation)
        {
            return true;
        }
        try
        {
            await connection.EchoAsync(cancellationToken).ConfigureAwait(false);
            return connection.Generation != generation;
        }
        catch (SmbConnectionLostException)
        {
            return true;
        }
        catch (SmbException)
        {
            return false;
        }
    }

    /// <summary>
    /// After a connection loss: throws <see cref="SmbOutcomeUnknownException"/> when the request was sent and
    /// <paramref name="rule"/> forbids repeating it; otherwise waits for the reconnect under
    /// <paramref name="call"/>, counting the wait in <paramref name="waits"/> (the call's waits so far).
    /// Returns whether the next attempt repeats a request the server may have seen.
    /// </summary>
    public static async Task<bool> AwaitRecoveryAsync(SmbConnection connection, SmbConnectionLostException lost, ReplayRule rule, string what,
        CallOptions call, ReconnectWaits waits, CancellationToken cancellationToken)
    {
        if (lost.WasSent && rule == ReplayRule.Never)
        {
            throw new SmbOutcomeUnknownException(
                $"{what}: the connection to {connection.Host}:{connection.Port} was lost after the request was sent; " +
                "it may or may not have taken effect, and it cannot be repeated safely", lost);
        }
        await waits.WaitAsync(connection, call, cancellationToken).ConfigureAwait(false);
        return lost.WasSent;
    }

}

/// <summary>
/// What one call has spent waiting for reconnects. In soft mode those waits add up to at most the soft
/// timeout, however many losses the call meets: a connection that comes back and drops again before the
/// call's request is answered, over and over (each outage shorter than the soft timeout), cannot hold
/// the call longer than that.
/// </summary>
internal sealed class ReconnectWaits
{
    public TimeSpan Total { get; private set; }

    /// <summary>Waits for the connection to be Ready under <paramref name="call"/>, with what this call already waited taken off a soft limit.</summary>
    public async Task WaitAsync(SmbConnection connection, CallOptions call, CancellationToken cancellationToken)
    {
        // The outage began when the connection was lost, which can be a little before the call noticed.
        var began = Environment.TickCount64 - (long)(connection.UnusableFor ?? TimeSpan.Zero).TotalMilliseconds;
        try
        {
            await connection.WaitForReadyAsync(call.SoftLimit, cancellationToken, Total, call.Deadline).ConfigureAwait(false);
        }
        finally
        {
            Total += TimeSpan.FromMilliseconds(Environment.TickCount64 - began);
        }
    }
}

/// <summary>
/// The server answers one call recovers from by itself (DESIGN §6), within that call's bounds: "try again"
/// statuses by asking again after <see cref="TryAgainBackoff"/> (soft: until the soft timeout from the call's
/// start; hard: for as long as the server answers so; either way never past the call's deadline), a
/// disconnected share by connecting it again, a deleted or expired session by the full recovery a reconnect
/// runs. Shared by single requests and compounds, so both recover from the same answers. Every "try again"
/// is logged: the first of a call at Information, the others at Debug, and a Warning every
/// <see cref="TryAgainReminder"/> while they go on, so a call that waits on a busy server is never silent.
/// </summary>
internal sealed class StatusRecovery(SmbTree tree, CallOptions call, long callStartedTicks)
{
    /// <summary>How many times a status-driven recovery (tree or session) is tried for one call.</summary>
    private const int MaxRecoveries = 3;

    /// <summary>How often a call still answered "try again" says so at Warning.</summary>
    internal static readonly TimeSpan TryAgainReminder = TimeSpan.FromSeconds(10);

    /// <summary>Soft: the call's "try again" answers end at its soft timeout from its start. Hard: only the call's deadline ends them.</summary>
    private readonly long _tryAgainSoftEnd = call.SoftLimit is { } soft ? callStartedTicks + (long)soft.TotalMilliseconds : CallOptions.NoDeadline;
    private TryAgainBackoff _backoff;
    private int _tryAgainAnswers;
    private long _firstTryAgainTicks;
    private long _lastReminderTicks;
    private int _recoveries;

    /// <summary>The last answer recovered from, for the error of a call that ran out of time while recovering.</summary>
    public NtStatus? LastStatus { get; private set; }

    /// <summary>True once a session recovery ran: the next attempt repeats a request the server has seen.</summary>
    public bool SessionRecovered { get; private set; }

    /// <summary>Whether <paramref name="status"/> is one of the answers a call may recover from at all.</summary>
    public static bool IsRecoverable(NtStatus status) => IsTryAgain(status)
        || status is NtStatus.NetworkNameDeleted or NtStatus.UserSessionDeleted or NtStatus.NetworkSessionExpired;

    /// <summary>The "try again" answers: the server did nothing and asks for the same request later.</summary>
    public static bool IsTryAgain(NtStatus status) => status is NtStatus.ServerUnavailable or NtStatus.FileNotAvailable or NtStatus.InsuffServerResources;

    /// <summary>
    /// Whether <paramref name="status"/> is an answer this call still recovers from (else it is the call's result).
    /// A "try again" answer always is: once its soft bound has passed, <see cref="RecoverAsync"/> ends the call with
    /// <see cref="SmbTimeoutException"/> rather than handing the busy status over as if it were the request's outcome.
    /// </summary>
    public bool CanRecover(NtStatus status) => IsTryAgain(status)
        || (status is NtStatus.NetworkNameDeleted or NtStatus.UserSessionDeleted or NtStatus.NetworkSessionExpired && _recoveries < MaxRecoveries);

    /// <summary>
    /// Recovers from a status <see cref="CanRecover"/> accepted; the caller then sends the request again.
    /// <paramref name="what"/>, <paramref name="command"/> and <paramref name="replayed"/> (the attempt was sent as a
    /// repeat of one the server may have seen) say in the log and the error why the server answered so.
    /// </summary>
    public async Task RecoverAsync(NtStatus status, ulong sessionId, string what, Smb2Command command, bool replayed, CancellationToken cancellationToken)
    {
        LastStatus = status;
        switch (status)
        {
            case NtStatus.NetworkNameDeleted:
                // The share was disconnected under us: connect the tree again and reclaim its handles.
                _recoveries++;
                await tree.RecoverAfterNameDeletedAsync(cancellationToken).ConfigureAwait(false);
                break;
            case NtStatus.UserSessionDeleted or NtStatus.NetworkSessionExpired:
                // This session alone is re-authenticated or set up anew on the same connection (its trees and handles
                // with it); the connection and its other sessions go on. Bounded by the call's soft limit and deadline.
                _recoveries++;
                await WithinCallBoundsAsync(tree.Session.RecoverAfterStatusAsync(status, sessionId, cancellationToken), what).ConfigureAwait(false);
                SessionRecovered = true;
                break;
            default:
                await TryAgainAsync(status, what, command, replayed, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Waits for <paramref name="recovery"/> no longer than the call's soft limit and deadline allow.</summary>
    private async Task WithinCallBoundsAsync(Task recovery, string what)
    {
        var end = Math.Min(_tryAgainSoftEnd, call.Deadline);
        if (end == CallOptions.NoDeadline)
        {
            await recovery.ConfigureAwait(false);
            return;
        }
        try
        {
            await recovery.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(0, end - Environment.TickCount64))).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new SmbTimeoutException($"{what}: recovering the session (the server answered {NtStatusText.Describe(LastStatus ?? NtStatus.UserSessionDeleted)}) " +
                $"did not finish within the call's {(call.SoftLimit is { } soft ? $"soft timeout of {soft.TotalSeconds:0.#} s" : "time limit")}");
        }
    }

    /// <summary>One "try again" answer: give up at the soft bound, else log and wait the backoff (never past a bound).</summary>
    private async Task TryAgainAsync(NtStatus status, string what, Smb2Command command, bool replayed, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        _tryAgainAnswers++;
        if (_tryAgainAnswers == 1)
        {
            _firstTryAgainTicks = now;
            _lastReminderTicks = now;
        }
        var why = TryAgainReason(status, command, replayed && tree.Connection.Negotiated?.Dialect.IsSmb3() == true);
        var elapsed = TimeSpan.FromMilliseconds(now - _firstTryAgainTicks);
        if (now >= _tryAgainSoftEnd)
        {
            throw new SmbTimeoutException(
                $"{what}: the server answered {NtStatusText.Describe(status)} ({why}) to {_tryAgainAnswers} attempt(s) over " +
                $"{elapsed.TotalSeconds:0.#} s; gave up at the soft timeout of {call.SoftTimeout.TotalSeconds:0.#} s from the call's start",
                SmbStatusException.Create(status, what));
        }
        var delay = _backoff.Next();
        var end = Math.Min(_tryAgainSoftEnd, call.Deadline);
        if (end != CallOptions.NoDeadline && end - now < delay.TotalMilliseconds)
        {
            delay = TimeSpan.FromMilliseconds(Math.Max(0, end - now)); // the last attempt goes out at the bound
        }
        var logger = tree.Logger;
        var statusText = NtStatusText.Describe(status);
        if (_tryAgainAnswers == 1)
        {
            logger.TryAgainFirst(what, statusText, why, (long)delay.TotalMilliseconds, (long)TryAgainBackoff.Cap.TotalMilliseconds, TryAgainLimit());
        }
        else if (now - _lastReminderTicks >= (long)TryAgainReminder.TotalMilliseconds)
        {
            _lastReminderTicks = now;
            logger.TryAgainStill(what, statusText, why, elapsed.TotalSeconds, _tryAgainAnswers, (long)TryAgainBackoff.Cap.TotalMilliseconds, TryAgainLimit());
        }
        else
        {
            logger.TryAgainAgain(what, statusText, _tryAgainAnswers, (long)delay.TotalMilliseconds);
        }
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How long this call goes on asking, for the log.</summary>
    private string TryAgainLimit() => call.SoftLimit is { } soft
        ? $"until the soft timeout of {soft.TotalSeconds:0.#} s from the call's start"
        : call.Deadline != CallOptions.NoDeadline
            ? $"until the call's time limit of {(call.TimeLimit ?? TimeSpan.Zero).TotalSeconds:0.#} s"
            : "for as long as the server answers so (hard mode)";

    /// <summary>
    /// Why the server answers "try again", as far as the protocol says. On 3.x a repeated request (sent with
    /// SMB2_FLAGS_REPLAY_OPERATION) is refused with STATUS_FILE_NOT_AVAILABLE while the server still works on the
    /// one it repeats: for a CREATE, the open with the same CreateGuid is still being made (MS-SMB2 §3.3.5.9.10;
    /// Samba's replay cache, smb2srv_open_lookup_replay_cache); for a WRITE, SET_INFO or IOCTL, requests sent on
    /// the handle before the reconnect are still outstanding (§3.3.5.2.10). The client is to send it again as a replay
    /// (§3.2.5.12 WRITE, §3.2.5.14 IOCTL), which the loop does until the server is done. Without the flag, or
    /// before 3.x, these statuses only say the server or file is not ready (§3.3.4.4).
    /// </summary>
    internal static string TryAgainReason(NtStatus status, Smb2Command command, bool replayed) => status switch
    {
        NtStatus.FileNotAvailable when replayed && command == Smb2Command.Create =>
            "a replayed CREATE: the server is still making the open it repeats, same CreateGuid (MS-SMB2 §3.3.5.9.10)",
        NtStatus.FileNotAvailable when replayed =>
            $"a replayed {command.ToString().ToUpperInvariant()}: requests sent on the handle before the reconnect are still outstanding (MS-SMB2 §3.3.5.2.10)",
        NtStatus.FileNotAvailable => "the file is not available for now",
        NtStatus.ServerUnavailable => "the server is not available for now",
        _ => "the server is short of resources for now",
    };
}

using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

// Related compounds (MS-SMB2 §3.2.4.1.4): CREATE, the operations on the new handle, CLOSE — one round trip.
internal sealed partial class SmbTree
{
    /// <summary>
    /// Sends CREATE, then <paramref name="middle"/> (which must address the handle as
    /// <see cref="Smb2FileId.Related"/>), then CLOSE, as one related compound, and waits for all.
    /// If the CREATE failed (the server then fails every member with the same status) its error is
    /// thrown. Otherwise the caller owns the result and checks the members it cares about. The
    /// CLOSE travels in the same frame, so a caller that cancels never leaks the handle.
    /// </summary>
    public async Task<CompoundResponses> CreateCompoundAsync(CreateRequest create, IReadOnlyList<ISmb2Request> middle, CallOptions call,
        CancellationToken cancellationToken, ReplayRule rule = ReplayRule.Always)
    {
        // The whole compound is one unit for replay: after a connection loss it is sent again (its members
        // use the related handle, so nothing stale is in it) unless it had been sent and is not repeatable.
        call = call.Begin();
        var recovery = new StatusRecovery(this, call, Environment.TickCount64);
        ReconnectWaits? waits = null;
        var replay = false;
        while (true)
        {
            var sessionId = Session.SessionId; // what this attempt goes under
            try
            {
                if (call.Expired)
                {
                    throw call.DeadlineError(recovery.LastStatus is { } last
                        ? $"{OpenWhat(create.Name)} (the server last answered {NtStatusText.Describe(last)})" : OpenWhat(create.Name));
                }
                return await CreateCompoundOnceAsync(create, middle, replay, call.Deadline, cancellationToken).ConfigureAwait(false);
            }
            catch (SmbStatusException ex) when (recovery.CanRecover(ex.Status))
            {
                // The CREATE was refused with an answer the call recovers from (nothing happened on the server).
                await recovery.RecoverAsync(ex.Status, sessionId, OpenWhat(create.Name), Smb2Command.Create, replay, cancellationToken).ConfigureAwait(false);
                replay |= recovery.SessionRecovered;
            }
            catch (SmbConnectionLostException lost)
            {
                replay |= await Replayer.AwaitRecoveryAsync(Connection, lost, rule, OpenWhat(create.Name), call, waits ??= new(), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<CompoundResponses> CreateCompoundOnceAsync(CreateRequest create, IReadOnlyList<ISmb2Request> middle, bool replay,
        long callDeadline, CancellationToken cancellationToken)
    {
        var bodies = new ISmb2Request[middle.Count + 2];
        bodies[0] = ForThisShare(create);
        for (var i = 0; i < middle.Count; i++)
        {
            bodies[i + 1] = middle[i];
        }
        bodies[^1] = new CloseRequest(Smb2FileId.Related);
        var tasks = Connection.SendCompound(bodies, ContextFor(null, replay, callDeadline: callDeadline), related: true, cancellationToken);
        var responses = new SmbResponse?[tasks.Length];
        Exception? failure = null;
        for (var i = 0; i < tasks.Length; i++)
        {
            try
            {
                responses[i] = await tasks[i].ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }
        var result = new CompoundResponses(responses);
        try
        {
            if (failure is not null)
            {
                throw failure;
            }
            result[0].ThrowIfFailed(OpenWhat(create.Name));
            result.Create = CreateResponse.Parse(result[0].Message);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Largest READ or WRITE that fits in one compound with <paramref name="otherMembers"/> more
    /// one-credit members, given the credits the server has granted so far (see CreditManager).
    /// </summary>
    public int CompoundPayloadLimit(int otherMembers)
    {
        var negotiated = Connection.Negotiated!;
        if (!negotiated.SupportsLargeMtu)
        {
            return Math.Min(65536, Math.Min(negotiated.MaxReadSize, negotiated.MaxWriteSize));
        }
        var credits = Math.Clamp(Connection.CreditHighWaterMark - CreditManager.Reserve - otherMembers, 1, 1024);
        return (int)Math.Min(65536L * credits, Math.Min(negotiated.MaxReadSize, negotiated.MaxWriteSize));
    }
}

/// <summary>The responses of one compound, in request order; disposing returns their buffers.</summary>
internal sealed class CompoundResponses(SmbResponse?[] responses) : IDisposable
{
    public SmbResponse this[int index] => responses[index] ?? throw new InvalidOperationException($"Compound member {index} has no response.");

    public int Count => responses.Length;

    /// <summary>The parsed CREATE response (set once the CREATE is known to have succeeded).</summary>
    public CreateResponse Create { get; internal set; } = null!;

    /// <summary>Throws for the first member after the CREATE that failed (the CLOSE included, unless its handle was already gone).</summary>
    public void ThrowIfAnyFailed(string what)
    {
        for (var i = 1; i < responses.Length; i++)
        {
            var r = this[i];
            if (i == responses.Length - 1 && r.Status == NtStatus.FileClosed)
            {
                continue;
            }
            r.ThrowIfFailed(what);
        }
    }

    public void Dispose()
    {
        foreach (var r in responses)
        {
            r?.Dispose();
        }
    }
}

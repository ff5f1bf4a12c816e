using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// What the connection reports to the meter (<see cref="SmbTelemetry"/>), against the scripted peer: exact counts for
/// one connection (<see cref="MeterRecorder"/>). The credit-wait count is checked in
/// <see cref="SmbConnectionTests.Credits_Exhausted_RequestsWaitUntilGranted"/>.
/// </summary>
public sealed class TransportTelemetryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task TimedOutRequest_CountedOnce_EvenWhenTheConnectionIsLostAfterwards()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 8); // the timed-out request never gives its credit back
        using var meter = new MeterRecorder(connection.Port);
        var timedOut = connection.SendAsync(new TestRequest(), new RequestContext { Timeout = TimeSpan.FromMilliseconds(300) }, default, priority: true);
        await peer.ReadRequestAsync();
        await Assert.ThrowsAsync<SmbTimeoutException>(() => timedOut.WaitAsync(Bound));
        await peer.ReadRequestAsync(); // the CANCEL that follows a timeout

        var lost = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReadRequestAsync();
        peer.Abort();
        await Assert.ThrowsAsync<SmbConnectionException>(() => lost.WaitAsync(Bound));

        Assert.Equal(1, meter.Count("smb.client.request.unanswered", SmbInstruments.ReasonTimeout));
        // The timed-out request was still in the table when the link went down; only the other one counts as cut off.
        var cutOff = meter.Count("smb.client.request.unanswered", SmbInstruments.ReasonConnectionLost)
            + meter.Count("smb.client.request.unanswered", SmbInstruments.ReasonConnectionClosed);
        Assert.Equal(1, cutOff);
    }

    [Fact]
    public async Task TimedOutRequest_AnsweredLate_NotAlsoCountedAsAnswered()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 8);
        using var meter = new MeterRecorder(connection.Port);
        var timedOut = connection.SendAsync(new TestRequest(), new RequestContext { Timeout = TimeSpan.FromMilliseconds(300) }, default, priority: true);
        var request = await peer.ReadRequestAsync();
        await Assert.ThrowsAsync<SmbTimeoutException>(() => timedOut.WaitAsync(Bound));
        await peer.ReadRequestAsync(); // the CANCEL that follows a timeout
        await peer.ReplyAsync(request, credits: 1); // the answer, after the caller was told it timed out

        // A request answered in time: the reader has handled the late answer before this one.
        var answered = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReplyAsync(await peer.ReadRequestAsync(), credits: 1);
        (await answered.WaitAsync(Bound)).Dispose();

        Assert.Equal(1, meter.Count("smb.client.request.unanswered", SmbInstruments.ReasonTimeout));
        Assert.Equal(1, meter.Count("smb.client.request.duration")); // the answered one only: a request is counted once
    }
}

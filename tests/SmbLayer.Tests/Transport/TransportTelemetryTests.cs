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
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// What the connection reports to the meter (<see cref="SmbTelemetry"/>), against the scripted peer: exact
/// counts for one connection (listeners are process-wide, so measurements are filtered by the peer's port).
/// </summary>
public sealed class TransportTelemetryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>Collects the long-valued measurements of one server port: (instrument, smb.reason) → sum.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();

        public Recorder(int port)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SmbTelemetry.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                object? p = null;
                string? reason = null;
                foreach (var tag in tags)
                {
                    if (tag.Key == "server.port")
                    {
                        p = tag.Value;
                    }
                    else if (tag.Key == "smb.reason")
                    {
                        reason = tag.Value as string;
                    }
                }
                if (Equals(p, port))
                {
                    Counts.AddOrUpdate((instrument.Name, reason), value, (_, sum) => sum + value);
                }
            });
            _listener.Start();
        }

        public ConcurrentDictionary<(string Instrument, string? Reason), long> Counts { get; } = new();

        public long Count(string instrument, string? reason = null) => Counts.GetValueOrDefault((instrument, reason));

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task TimedOutRequest_CountedOnce_EvenWhenTheConnectionIsLostAfterwards()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 8); // the timed-out request never gives its credit back
        using var meter = new Recorder(connection.Port);
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
    public async Task RequestsWaitingForCredits_AreCounted_AnsweredOnesAreNot()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        // Grant 3: with one credit held in reserve, two 1-credit requests go and the other two wait.
        await peer.GrantCreditsAsync(connection, 3);
        using var meter = new Recorder(connection.Port);
        var tasks = Enumerable.Range(0, 4).Select(_ => connection.SendAsync(new TestRequest(), RequestContext.None, default)).ToArray();
        var seen = new List<ReceivedMessage>();
        while (seen.Count < 2)
        {
            seen.AddRange(await peer.ReadFrameAsync());
        }
        await peer.ReplyAsync(seen[0], credits: 10);
        await peer.ReplyAsync(seen[1], credits: 10);
        while (seen.Count < 4)
        {
            seen.AddRange(await peer.ReadFrameAsync());
        }
        await peer.ReplyAsync(seen[2]);
        await peer.ReplyAsync(seen[3]);
        foreach (var r in await Task.WhenAll(tasks).WaitAsync(Bound))
        {
            Assert.Equal(NtStatus.Success, r.Status);
            r.Dispose();
        }
        Assert.Equal(2, meter.Count("smb.client.credit.waits"));
        Assert.Equal(0, meter.Counts.Where(c => c.Key.Instrument == "smb.client.request.unanswered").Sum(c => c.Value));
        Assert.True(meter.Count("smb.client.network.io") > 0);
    }
}

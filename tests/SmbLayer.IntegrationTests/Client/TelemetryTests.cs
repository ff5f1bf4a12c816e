using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Client;

/// <summary>
/// The library's meter and activity source (<see cref="SmbTelemetry"/>) against Samba. Listeners are process-wide,
/// so every measurement is filtered by this fixture's port (tests of other collections use other servers).
/// </summary>
[Collection(SambaCollections.Default)]
public sealed class TelemetryTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    private SmbClient NewClient() => new(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == key)
            {
                return tag.Value?.ToString();
            }
        }
        return null;
    }

    [SambaFact]
    public async Task Meter_RecordsEachRequestWithCommandAndStatus_AndTheBytesBothWays()
    {
        var port = Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answered = new ConcurrentBag<(string? Command, string? Status, double Seconds)>();
        long received = 0, sent = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SmbTelemetry.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "smb.client.request.duration" && Tag(tags, "server.port") == port)
            {
                answered.Add((Tag(tags, "smb.command"), Tag(tags, "smb.status"), value));
            }
        });
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "smb.client.network.io" && Tag(tags, "server.port") == port)
            {
                if (Tag(tags, "network.io.direction") == "receive")
                {
                    Interlocked.Add(ref received, value);
                }
                else
                {
                    Interlocked.Add(ref sent, value);
                }
            }
        });
        listener.Start();

        var name = $"telemetry-{Guid.NewGuid():N}.bin";
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await using (var client = NewClient())
        {
            await using (var write = await client.OpenWriteAsync(Server.Url(name)))
            {
                await write.WriteAsync(data);
            }
            await using (var read = await client.OpenReadAsync(Server.Url(name)))
            {
                var back = new MemoryStream();
                await read.CopyToAsync(back);
                Assert.Equal(data, back.ToArray());
            }
            await Assert.ThrowsAsync<SmbNotFoundException>(() => client.GetInfoAsync(Server.Url($"missing-{Guid.NewGuid():N}")));
        }

        var seen = answered.ToArray();
        Assert.Contains(seen, a => a is { Command: "NEGOTIATE", Status: "Success" });
        Assert.Contains(seen, a => a is { Command: "WRITE", Status: "Success" });
        Assert.Contains(seen, a => a is { Command: "READ", Status: "Success" });
        Assert.Contains(seen, a => a is { Command: "CREATE", Status: "ObjectNameNotFound" });
        Assert.All(seen, a => Assert.True(a.Seconds is >= 0 and < 60, $"{a.Command} took {a.Seconds} s"));
        Assert.True(Interlocked.Read(ref sent) >= data.Length, $"{sent} bytes sent for a {data.Length}-byte upload");
        Assert.True(Interlocked.Read(ref received) >= data.Length, $"{received} bytes received for a {data.Length}-byte download");
    }

    /// <summary>Collects the spans of this fixture's server into <paramref name="spans"/> as they stop, until disposed.</summary>
    private ActivityListener ListenToSpans(ConcurrentQueue<Activity> spans)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SmbTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (Equals(activity.GetTagItem("server.port"), Server.Port))
                {
                    spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    [SambaFact]
    public async Task ActivitySource_SpansEachOperation_FailedOnesMarked()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = ListenToSpans(spans);

        var folder = $"telemetry-{Guid.NewGuid():N}";
        await using (var client = NewClient())
        {
            await client.CreateDirectoryAsync(Server.Url(folder));
            await client.UploadAsync(new MemoryStream([1, 2, 3]), Server.Url($"{folder}/a.txt"));
            var names = new List<string>();
            await foreach (var entry in client.ListAsync(Server.Url(folder)))
            {
                names.Add(entry.Name);
            }
            Assert.Equal(["a.txt"], names);
            await Assert.ThrowsAsync<SmbNotFoundException>(() => client.OpenReadAsync(Server.Url($"{folder}/missing.txt")));
        }

        var byName = spans.ToArray();
        var created = Assert.Single(byName, a => a.OperationName == "smb.create_directory");
        Assert.Equal(ActivityStatusCode.Unset, created.Status);
        Assert.Equal("share", created.GetTagItem("smb.share"));
        Assert.Equal(folder, created.GetTagItem("smb.path"));
        Assert.Equal(ActivityKind.Client, created.Kind);
        Assert.Single(byName, a => a.OperationName == "smb.upload");
        Assert.Single(byName, a => a.OperationName == "smb.list");
        var failed = Assert.Single(byName, a => a.OperationName == "smb.open_read");
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal(typeof(SmbNotFoundException).FullName, failed.GetTagItem("error.type"));

        // Setting up the server's connection, session and tree: once, as children of the first operation (the pool
        // hands the rest what it made).
        var connect = Assert.Single(byName, a => a.OperationName == "smb.connect");
        Assert.Equal(created.SpanId, connect.ParentSpanId);
        Assert.Equal("3.1.1", connect.GetTagItem("smb.dialect"));
        Assert.Equal(created.SpanId, Assert.Single(byName, a => a.OperationName == "smb.session_setup").ParentSpanId);
        var tree = Assert.Single(byName, a => a.OperationName == "smb.tree_connect");
        Assert.Equal(created.SpanId, tree.ParentSpanId);
        Assert.Equal("share", tree.GetTagItem("smb.share"));
    }

    [SambaFact]
    public async Task ActivitySource_FailedSessionSetup_SpanMarked()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = ListenToSpans(spans);
        await using (var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, "wrong-password") }))
        {
            await Assert.ThrowsAsync<SmbAuthenticationException>(() => client.GetInfoAsync(Server.Url()));
        }
        var setup = Assert.Single(spans, a => a.OperationName == "smb.session_setup");
        Assert.Equal(ActivityStatusCode.Error, setup.Status);
        Assert.Equal(typeof(SmbAuthenticationException).FullName, setup.GetTagItem("error.type"));
        Assert.DoesNotContain(spans, a => a.OperationName == "smb.tree_connect");
    }
}

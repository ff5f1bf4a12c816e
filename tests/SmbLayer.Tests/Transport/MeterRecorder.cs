using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// Collects the library's measurements for one server port, as (instrument, smb.reason) → the sum of long values (counters),
/// or the number of double values recorded (histograms: one per measurement). Listeners are process-wide; the port keeps
/// tests that run at the same time apart. The integration tests compile this file too.
/// </summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();

    public MeterRecorder(int port)
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SmbTelemetry.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags, port));
        _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Add(instrument, 1, tags, port));
        _listener.Start();
    }

    private void Add(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, int port)
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
    }

    public ConcurrentDictionary<(string Instrument, string? Reason), long> Counts { get; } = new();

    public long Count(string instrument, string? reason = null) => Counts.GetValueOrDefault((instrument, reason));

    public void Dispose() => _listener.Dispose();
}

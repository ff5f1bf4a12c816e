using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// Collects the library's long-valued measurements for one server port, as (instrument, smb.reason) → sum. Listeners
/// are process-wide; the port keeps tests that run at the same time apart. The integration tests compile this file too.
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

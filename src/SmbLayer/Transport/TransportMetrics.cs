using System.Diagnostics;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>
/// What one connection reports to the library's meter (SmbTelemetry; docs/ARCHITECTURE.md, "Telemetry"), shared by
/// the connection and each of its links, and the zero-copy byte counts summed over every link so far.
/// </summary>
internal sealed class TransportMetrics(string host, int port)
{
    /// <summary>The port boxed once, for the server.port tag.</summary>
    private readonly object _portTag = port;
    private long _bytesIntoFiles;
    private long _bytesFromFiles;

    /// <summary>READ data the reader put straight into files (spliced, or written from the few bytes read with the header).</summary>
    public long BytesIntoFiles => Interlocked.Read(ref _bytesIntoFiles);

    /// <summary>WRITE data the writer sent straight from local files (sendfile).</summary>
    public long BytesFromFiles => Interlocked.Read(ref _bytesFromFiles);

    public void AddBytesIntoFiles(long count) => Interlocked.Add(ref _bytesIntoFiles, count);

    public void AddBytesFromFiles(long count) => Interlocked.Add(ref _bytesFromFiles, count);

    /// <summary>server.address and server.port, the tags every instrument carries; callers add their own.</summary>
    public TagList ServerTags() => new() { { "server.address", host }, { "server.port", _portTag } };

    /// <summary>A final answer to <paramref name="pending"/> arrived with <paramref name="status"/>.</summary>
    public void RecordAnswered(PendingRequest pending, NtStatus status)
    {
        if (!SmbInstruments.RequestDuration.Enabled || pending.SentTimestamp == 0)
        {
            return;
        }
        var tags = ServerTags();
        tags.Add("smb.command", SmbInstruments.CommandName(pending.Body.Command));
        tags.Add("smb.status", SmbInstruments.StatusName(status));
        SmbInstruments.RequestDuration.Record(Stopwatch.GetElapsedTime(pending.SentTimestamp).TotalSeconds, tags);
    }

    /// <summary><paramref name="pending"/>, which was sent, ended without an answer (<paramref name="reason"/>: SmbInstruments.Reason*).</summary>
    public void RecordUnanswered(PendingRequest pending, string reason)
    {
        if (!SmbInstruments.RequestsUnanswered.Enabled)
        {
            return;
        }
        var tags = ServerTags();
        tags.Add("smb.command", SmbInstruments.CommandName(pending.Body.Command));
        tags.Add("smb.reason", reason);
        SmbInstruments.RequestsUnanswered.Add(1, tags);
    }

    public void RecordCreditWait(int requests)
    {
        if (SmbInstruments.CreditWaits.Enabled)
        {
            SmbInstruments.CreditWaits.Add(requests, ServerTags());
        }
    }

    public void RecordNetworkIo(long bytes, bool received)
    {
        if (SmbInstruments.NetworkIo.Enabled)
        {
            var tags = ServerTags();
            tags.Add("network.io.direction", received ? "receive" : "transmit");
            SmbInstruments.NetworkIo.Add(bytes, tags);
        }
    }

    public void RecordStateChange(ConnectionState from, ConnectionState to)
    {
        if (from == ConnectionState.Ready && to == ConnectionState.Disconnected && SmbInstruments.ConnectionsLost.Enabled)
        {
            SmbInstruments.ConnectionsLost.Add(1, ServerTags());
        }
        else if (from == ConnectionState.Reconnecting && to == ConnectionState.Ready && SmbInstruments.ConnectionsRestored.Enabled)
        {
            SmbInstruments.ConnectionsRestored.Add(1, ServerTags());
        }
    }
}

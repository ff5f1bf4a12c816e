using System.Diagnostics;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// What the connection reports to the library's meter (SmbTelemetry; docs/ARCHITECTURE.md, "Telemetry").
internal sealed partial class SmbConnection
{
    /// <summary>The port boxed once, for the server.port tag.</summary>
    private object? _portTag;

    /// <summary>server.address and server.port, the tags every instrument carries; callers add their own.</summary>
    internal TagList ServerTags()
    {
        _portTag ??= Port;
        return new TagList { { "server.address", Host }, { "server.port", _portTag } };
    }

    /// <summary>A final answer to <paramref name="pending"/> arrived with <paramref name="status"/>.</summary>
    private void RecordAnswered(PendingRequest pending, NtStatus status)
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
    private void RecordUnanswered(PendingRequest pending, string reason)
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

    private void RecordCreditWait(int requests)
    {
        if (SmbInstruments.CreditWaits.Enabled)
        {
            SmbInstruments.CreditWaits.Add(requests, ServerTags());
        }
    }

    private void RecordNetworkIo(long bytes, bool received)
    {
        if (SmbInstruments.NetworkIo.Enabled)
        {
            var tags = ServerTags();
            tags.Add("network.io.direction", received ? "receive" : "transmit");
            SmbInstruments.NetworkIo.Add(bytes, tags);
        }
    }

    private void RecordStateChange(ConnectionState from, ConnectionState to)
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

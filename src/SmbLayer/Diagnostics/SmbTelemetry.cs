using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using SmbLayer.Protocol;

namespace SmbLayer;

/// <summary>
/// The names under which the library publishes metrics (<see cref="System.Diagnostics.Metrics.Meter"/>) and traces
/// (<see cref="System.Diagnostics.ActivitySource"/>). With OpenTelemetry: <c>.AddMeter(SmbTelemetry.MeterName)</c> and
/// <c>.AddSource(SmbTelemetry.ActivitySourceName)</c>; in process, a <see cref="MeterListener"/> or
/// <see cref="ActivityListener"/>. docs/ARCHITECTURE.md ("Telemetry") lists the instruments and their tags.
/// </summary>
public static class SmbTelemetry
{
    /// <summary>The meter's name: "SmbLayer".</summary>
    public const string MeterName = "SmbLayer";

    /// <summary>The activity source's name: "SmbLayer".</summary>
    public const string ActivitySourceName = "SmbLayer";
}

/// <summary>
/// The library's instruments and activity source. Recording costs nothing measurable while no listener is
/// enabled (each call checks <see cref="Instrument.Enabled"/> first), and allocates nothing when one is: tags go
/// in a <see cref="TagList"/>, and command and status names are constant strings.
/// </summary>
internal static class SmbInstruments
{
    private static readonly string? Version = typeof(SmbInstruments).Assembly.GetName().Version?.ToString();

    public static readonly Meter Meter = new(SmbTelemetry.MeterName, Version);

    public static readonly ActivitySource Source = new(SmbTelemetry.ActivitySourceName, Version);

    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram(
        "smb.client.request.duration", "s",
        "Time from sending an SMB2 request to its final answer (interim STATUS_PENDING answers included in the wait).",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300] });

    public static readonly Counter<long> RequestsUnanswered = Meter.CreateCounter<long>(
        "smb.client.request.unanswered", "{request}",
        "Requests sent that ended without an answer: timed out, cancelled (after the grace for the server's answer), or cut off by a lost or closed connection.");

    public static readonly Counter<long> CreditWaits = Meter.CreateCounter<long>(
        "smb.client.credit.waits", "{request}", "Requests that had to wait for the server to grant credits before they could be sent.");

    public static readonly Counter<long> NetworkIo = Meter.CreateCounter<long>(
        "smb.client.network.io", "By", "Bytes sent and received on SMB connections, frame headers included.");

    public static readonly Counter<long> ConnectionsLost = Meter.CreateCounter<long>(
        "smb.client.connection.lost", "{connection}", "Connections lost while ready (EOF, reset, no answer to liveness probes, protocol error); each is then reconnected.");

    public static readonly Counter<long> ConnectionsRestored = Meter.CreateCounter<long>(
        "smb.client.connection.restored", "{connection}", "Lost connections made ready again (session, trees and durable handles re-established).");

    public static readonly Counter<long> HandlesLost = Meter.CreateCounter<long>(
        "smb.client.handle.lost", "{handle}", "Open files whose handle could not be reclaimed after a reconnect; only their users see an error.");

    /// <summary>Why a request ended without an answer (the <c>smb.reason</c> tag of <see cref="RequestsUnanswered"/>).</summary>
    public const string ReasonTimeout = "timeout";
    public const string ReasonCancelled = "cancelled";
    public const string ReasonConnectionLost = "connection_lost";
    public const string ReasonConnectionClosed = "connection_closed";

    /// <summary>The MS-SMB2 name of <paramref name="command"/> (the <c>smb.command</c> tag).</summary>
    public static string CommandName(Smb2Command command) => command switch
    {
        Smb2Command.Negotiate => "NEGOTIATE",
        Smb2Command.SessionSetup => "SESSION_SETUP",
        Smb2Command.Logoff => "LOGOFF",
        Smb2Command.TreeConnect => "TREE_CONNECT",
        Smb2Command.TreeDisconnect => "TREE_DISCONNECT",
        Smb2Command.Create => "CREATE",
        Smb2Command.Close => "CLOSE",
        Smb2Command.Flush => "FLUSH",
        Smb2Command.Read => "READ",
        Smb2Command.Write => "WRITE",
        Smb2Command.Lock => "LOCK",
        Smb2Command.Ioctl => "IOCTL",
        Smb2Command.Cancel => "CANCEL",
        Smb2Command.Echo => "ECHO",
        Smb2Command.QueryDirectory => "QUERY_DIRECTORY",
        Smb2Command.ChangeNotify => "CHANGE_NOTIFY",
        Smb2Command.QueryInfo => "QUERY_INFO",
        Smb2Command.SetInfo => "SET_INFO",
        Smb2Command.OplockBreak => "OPLOCK_BREAK",
        _ => "OTHER",
    };

    /// <summary>
    /// The name of <paramref name="status"/> (the <c>smb.status</c> tag): the <see cref="NtStatus"/> member's name, or
    /// "Other" for a value the library does not name, so a server cannot make the tag's values unbounded.
    /// </summary>
    public static string StatusName(NtStatus status) => StatusNames.Names.TryGetValue(status, out var name) ? name : "Other";

    private static class StatusNames
    {
        public static readonly FrozenDictionary<NtStatus, string> Names =
            Enum.GetValues<NtStatus>().Distinct().ToFrozenDictionary(s => s, s => s.ToString());
    }

    /// <summary>
    /// Starts the span of one client operation (<paramref name="name"/>, e.g. "smb.list") on a path of a share,
    /// or returns null when nobody listens. Tags: server.address, server.port, smb.share, smb.path.
    /// </summary>
    public static Activity? StartOperation(string name, string host, int port, string share, string path)
    {
        var activity = StartSpan(name, host, port);
        TagLocation(activity, share, path);
        return activity;
    }

    /// <summary>Tags <paramref name="activity"/> (when it records) with a share and a path in it.</summary>
    public static void TagLocation(Activity? activity, string share, string path)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("smb.share", share);
            activity.SetTag("smb.path", path);
        }
    }

    /// <summary>A Client span tagged server.address and server.port, or null when nobody listens.</summary>
    private static Activity? StartSpan(string name, string host, int port)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        var activity = Source.StartActivity(name, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("server.address", host);
            activity.SetTag("server.port", port);
        }
        return activity;
    }

    /// <summary>
    /// Runs <paramref name="step"/> in a span of its own (<paramref name="name"/>, tagged server.address and server.port),
    /// which a failure marks; <paramref name="step"/> gets the span (null when nobody listens) to tag. Used for the client
    /// operations ("smb.open_read" …) and for the steps of setting up a server's connection ("smb.connect" for TCP and
    /// NEGOTIATE, "smb.session_setup", "smb.tree_connect"): those are children of the operation that needed them, and
    /// later operations, which reuse the pooled connection, session and tree, have none. The span starts here, inside
    /// this async method, so the caller's current activity is what it was once this returns.
    /// </summary>
    public static async Task<T> TraceAsync<T>(string name, string host, int port, Func<Activity?, Task<T>> step)
    {
        using var span = StartSpan(name, host, port);
        try
        {
            return await step(span).ConfigureAwait(false);
        }
        catch (Exception e) when (Failed(span, e))
        {
            throw; // not reached: the filter only marks the span
        }
    }

    /// <summary>
    /// Marks <paramref name="activity"/> failed by <paramref name="error"/> (status Error, tag error.type = the exception's
    /// type). Returns false, for use in an exception filter that lets the exception go on unchanged.
    /// </summary>
    public static bool Failed(Activity? activity, Exception error)
    {
        if (activity is not null)
        {
            var type = error.GetType().FullName;
            activity.SetTag("error.type", type);
            activity.SetStatus(ActivityStatusCode.Error, type);
        }
        return false;
    }
}

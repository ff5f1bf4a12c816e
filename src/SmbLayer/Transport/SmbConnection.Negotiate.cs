using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;

namespace SmbLayer.Transport;

// NEGOTIATE on the connection's link: on first connect, and again on every reconnect (Negotiation builds and checks it).
internal sealed partial class SmbConnection
{
    /// <summary>Connects, negotiates, and marks the connection Ready.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        await ConnectAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await NegotiateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Close(ex);
            throw;
        }
    }

    /// <summary>Sends NEGOTIATE, records the outcome and marks the connection Ready; refuses any dialect outside the caller's bounds.</summary>
    public async Task NegotiateAsync(CancellationToken cancellationToken)
    {
        NegotiatedParameters negotiated;
        try
        {
            negotiated = await NegotiateCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SmbConnectionException ex) when (Settings.MinDialect > SmbDialect.Smb202)
        {
            var offered = string.Join(", ", SmbDialects.Between(Settings.MinDialect, Settings.MaxDialect).Select(d => d.ToDisplay()));
            throw new SmbSecurityException(
                $"Server {Host}:{Port} dropped the connection when offered only dialects {offered} " +
                $"(minimum {Settings.MinDialect.ToDisplay()}); it probably supports none of them.", ex);
        }
        MarkReady(negotiated);
    }

    /// <summary>
    /// One NEGOTIATE exchange on the current link: on first connect (<paramref name="validated"/> null), or on a reconnect,
    /// whose answer must settle what <paramref name="validated"/>, the connection's earlier NEGOTIATE, did.
    /// </summary>
    private async Task<NegotiatedParameters> NegotiateCoreAsync(CancellationToken cancellationToken, NegotiatedParameters? validated = null)
    {
        var request = Negotiation.Request(Settings);
        byte[]? sentBytes = null;
        // Liveness cannot probe before NEGOTIATE (a server takes nothing else first, MS-SMB2 §3.3.5.2), so the NEGOTIATE
        // itself is the probe: unanswered for probe delay + echo timeout after the server has it, the server is not there
        // (a listener that accepts and never speaks SMB would otherwise hold the caller for the 5 min request timeout).
        var context = new RequestContext
        {
            OnSent = m => sentBytes = m.ToArray(),
            DuringSetup = true,
            Timeout = Settings.ProbeDelay + Settings.EchoTimeout,
        };
        using var response = await SendAsync(request, context, cancellationToken, priority: true).ConfigureAwait(false);
        var negotiated = Negotiation.Settle(request, sentBytes!, response, $"{Host}:{Port}", Settings, validated);
        _logger.Negotiated(negotiated.Dialect.ToDisplay(), Host, Port, negotiated.MaxReadSize, negotiated.MaxWriteSize,
            negotiated.ServerRequiresSigning ? "required" : "enabled", negotiated.Cipher);
        return negotiated;
    }
}

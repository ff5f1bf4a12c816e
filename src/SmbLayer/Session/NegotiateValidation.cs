using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

/// <summary>
/// FSCTL_VALIDATE_NEGOTIATE_INFO on 3.0 and 3.0.2 (MS-SMB2 §3.2.5.5, §3.2.5.14.12): after the first tree
/// connect of a session with a key, the client repeats what it sent in NEGOTIATE in a signed IOCTL and the
/// server repeats what it answered; any difference means someone altered the unsigned NEGOTIATE exchange
/// (for example to strip signing or force a lower dialect), and the connection is dropped. 3.1.1 does not
/// need it: the pre-auth integrity hash covers NEGOTIATE.
/// </summary>
internal static class NegotiateValidation
{
    /// <summary>Runs the validation once per connection when the dialect and the session call for it.</summary>
    public static async Task ValidateIfNeededAsync(SmbTree tree, ILogger logger, CancellationToken cancellationToken)
    {
        var session = tree.Session;
        var connection = session.Connection;
        var negotiated = connection.Negotiated;
        if (negotiated is null || negotiated.Dialect is not (SmbDialect.Smb300 or SmbDialect.Smb302)
            || session.IsGuest || !session.HasSigningKey || connection.NegotiateValidated || !connection.TryBeginNegotiateValidation())
        {
            return;
        }
        var succeeded = false;
        try
        {
            await ValidateAsync(tree, negotiated, logger, cancellationToken).ConfigureAwait(false);
            succeeded = true;
            logger.NegotiateValidated(connection.Host, connection.Port, negotiated.Dialect.ToDisplay());
        }
        catch (SmbSecurityException ex)
        {
            connection.Close(ex);
            throw;
        }
        finally
        {
            connection.EndNegotiateValidation(succeeded);
        }
    }

    private static async Task ValidateAsync(SmbTree tree, NegotiatedParameters negotiated, ILogger logger, CancellationToken cancellationToken)
    {
        var connection = tree.Connection;
        var request = IoctlRequest.ValidateNegotiateInfo((GlobalCapabilities)negotiated.ClientCapabilities, connection.Settings.ClientGuid,
            (SecurityMode)negotiated.ClientSecurityMode, negotiated.OfferedDialects);
        // Signed (or encrypted) both ways: the reader refuses an unsigned or wrongly signed answer as a protocol error.
        using var response = await connection.SendAsync(request, tree.Session.SignedContext(tree.TreeId, tree.EncryptData), cancellationToken)
            .ConfigureAwait(false);
        if (response.Status is NtStatus.NotSupported or NtStatus.InvalidDeviceRequest or NtStatus.FileClosed)
        {
            // Servers that do not implement the FSCTL (older Windows, some NAS) answer like this. §3.2.5.14.12
            // ends the connection only for an unsigned answer or ACCESS_DENIED; this answer was signed with the
            // session's key (or encrypted) — the reader refuses it otherwise — so it comes from the real server,
            // not from someone in between, and there is nothing to compare. Linux cifs and Samba's client
            // accept it too. The connection is used as it is; the log says the check could not be made.
            logger.NegotiateValidationUnsupported(connection.Host, connection.Port, NtStatusText.Describe(response.Status), negotiated.Dialect.ToDisplay());
            return;
        }
        if (response.Status != NtStatus.Success)
        {
            throw new SmbSecurityException(
                $"VALIDATE_NEGOTIATE_INFO on {connection.Host}:{connection.Port} failed with {NtStatusText.Describe(response.Status)}; the NEGOTIATE exchange cannot be trusted.");
        }
        ValidateNegotiateInfoResponse info;
        try
        {
            var ioctl = IoctlResponse.Parse(response.Message);
            info = ValidateNegotiateInfoCodec.ParseResponse(response.Message[ioctl.OutputRange]);
        }
        catch (SmbProtocolException ex)
        {
            throw new SmbSecurityException($"VALIDATE_NEGOTIATE_INFO response from {connection.Host}:{connection.Port} is malformed: {ex.Message}", ex);
        }
        var mismatches = new List<string>();
        if (info.Dialect != negotiated.Dialect)
        {
            mismatches.Add($"dialect {info.Dialect.ToDisplay()} vs {negotiated.Dialect.ToDisplay()}");
        }
        if (info.ServerGuid != negotiated.ServerGuid)
        {
            mismatches.Add($"server GUID {info.ServerGuid} vs {negotiated.ServerGuid}");
        }
        if ((ushort)info.SecurityMode != negotiated.SecurityMode)
        {
            mismatches.Add($"security mode 0x{(ushort)info.SecurityMode:X} vs 0x{negotiated.SecurityMode:X}");
        }
        if ((uint)info.Capabilities != negotiated.Capabilities)
        {
            mismatches.Add($"capabilities 0x{(uint)info.Capabilities:X} vs 0x{negotiated.Capabilities:X}");
        }
        if (mismatches.Count > 0)
        {
            throw new SmbSecurityException(
                $"VALIDATE_NEGOTIATE_INFO from {connection.Host}:{connection.Port} does not match the NEGOTIATE response ({string.Join("; ", mismatches)}); " +
                "the negotiation was tampered with. Connection dropped.");
        }
    }
}

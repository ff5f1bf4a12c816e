using System.Formats.Asn1;

namespace SmbLayer.Security;

/// <summary>SPNEGO negState (RFC 4178 §4.2.2).</summary>
internal enum SpnegoNegState
{
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

/// <summary>A decoded NegTokenResp (RFC 4178 §4.2.2). Absent fields are null.</summary>
internal sealed class SpnegoNegTokenResp
{
    public SpnegoNegState? NegState { get; init; }
    public string? SupportedMech { get; init; }
    public byte[]? ResponseToken { get; init; }
    public byte[]? MechListMic { get; init; }
}

/// <summary>
/// SPNEGO token encoding (RFC 4178, MS-SPNG) with DER on output. The module uses explicit tags, so each
/// [n] field is a constructed context-specific wrapper around the inner value. Decoders accept BER and
/// throw <see cref="SmbProtocolException"/> on anything malformed.
/// </summary>
internal static class SpnegoTokens
{
    public const string SpnegoOid = "1.3.6.1.5.5.2";
    public const string NtlmsspOid = "1.3.6.1.4.1.311.2.2.10";

    private static readonly Asn1Tag GssApplicationTag = new(TagClass.Application, 0, isConstructed: true);
    private static readonly Asn1Tag NegTokenInitTag = Ctx(0);
    private static readonly Asn1Tag NegTokenRespTag = Ctx(1);

    /// <summary>DER of MechTypeList (SEQUENCE OF OID), the exact bytes the mechListMIC covers.</summary>
    public static byte[] EncodeMechTypeList(params string[] mechs)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var mech in mechs)
            {
                writer.WriteObjectIdentifier(mech);
            }
        }
        return writer.Encode();
    }

    /// <summary>
    /// The initial token: [APPLICATION 0] { thisMech = SPNEGO, [0] NegTokenInit { [0] mechTypes, [2] mechToken } }.
    /// </summary>
    public static byte[] EncodeInitialNegTokenInit(ReadOnlySpan<byte> mechTypeListDer, ReadOnlySpan<byte> mechToken)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence(GssApplicationTag))
        {
            writer.WriteObjectIdentifier(SpnegoOid);
            using (writer.PushSequence(NegTokenInitTag))
            using (writer.PushSequence())
            {
                using (writer.PushSequence(Ctx(0)))
                {
                    writer.WriteEncodedValue(mechTypeListDer);
                }
                if (!mechToken.IsEmpty)
                {
                    using (writer.PushSequence(Ctx(2)))
                    {
                        writer.WriteOctetString(mechToken);
                    }
                }
            }
        }
        return writer.Encode();
    }

    /// <summary>[1] NegTokenResp { [0] negState, [1] supportedMech, [2] responseToken, [3] mechListMIC }, each only when given.</summary>
    public static byte[] EncodeNegTokenResp(SpnegoNegState? negState, string? supportedMech, ReadOnlySpan<byte> responseToken, ReadOnlySpan<byte> mechListMic)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence(NegTokenRespTag))
        using (writer.PushSequence())
        {
            if (negState is { } state)
            {
                using (writer.PushSequence(Ctx(0)))
                {
                    writer.WriteEnumeratedValue(state);
                }
            }
            if (supportedMech is not null)
            {
                using (writer.PushSequence(Ctx(1)))
                {
                    writer.WriteObjectIdentifier(supportedMech);
                }
            }
            if (!responseToken.IsEmpty)
            {
                using (writer.PushSequence(Ctx(2)))
                {
                    writer.WriteOctetString(responseToken);
                }
            }
            if (!mechListMic.IsEmpty)
            {
                using (writer.PushSequence(Ctx(3)))
                {
                    writer.WriteOctetString(mechListMic);
                }
            }
        }
        return writer.Encode();
    }

    /// <summary>
    /// The mechanisms offered in a server's NegTokenInit / NegTokenInit2 (the SMB2 NEGOTIATE security buffer),
    /// with or without the GSS-API [APPLICATION 0] wrapper. Other fields (negHints, ...) are skipped.
    /// </summary>
    public static IReadOnlyList<string> DecodeNegTokenInitMechs(ReadOnlyMemory<byte> token)
    {
        try
        {
            var outer = new AsnReader(token, AsnEncodingRules.BER);
            AsnReader init;
            if (outer.PeekTag().HasSameClassAndValue(GssApplicationTag))
            {
                var gss = outer.ReadSequence(GssApplicationTag);
                outer.ThrowIfNotEmpty();
                var oid = gss.ReadObjectIdentifier();
                if (oid != SpnegoOid)
                {
                    throw new SmbProtocolException($"GSS-API token mechanism is {oid}, expected SPNEGO ({SpnegoOid}).");
                }
                init = gss.ReadSequence(NegTokenInitTag);
                gss.ThrowIfNotEmpty();
            }
            else
            {
                init = outer.ReadSequence(NegTokenInitTag);
                outer.ThrowIfNotEmpty();
            }
            var body = init.ReadSequence();
            init.ThrowIfNotEmpty();
            if (!body.HasData || !body.PeekTag().HasSameClassAndValue(Ctx(0)))
            {
                throw new SmbProtocolException("SPNEGO NegTokenInit has no mechTypes [0] field.");
            }
            var mechTypes = body.ReadSequence(Ctx(0));
            var list = mechTypes.ReadSequence();
            mechTypes.ThrowIfNotEmpty();
            var mechs = new List<string>();
            while (list.HasData)
            {
                mechs.Add(list.ReadObjectIdentifier());
            }
            // Remaining optional fields ([1] reqFlags, [2] mechToken, [3] negHints / mechListMIC, [4]) are not used.
            while (body.HasData)
            {
                var tag = body.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific || tag.TagValue > 4)
                {
                    throw new SmbProtocolException($"SPNEGO NegTokenInit has an unexpected field {tag}.");
                }
                body.ReadEncodedValue();
            }
            return mechs;
        }
        catch (AsnContentException ex)
        {
            throw new SmbProtocolException($"SPNEGO NegTokenInit is malformed DER: {ex.Message}", ex);
        }
    }

    /// <summary>Decodes and validates a NegTokenResp ([1] SEQUENCE); fields must be in order, at most once, nothing trailing.</summary>
    public static SpnegoNegTokenResp DecodeNegTokenResp(ReadOnlyMemory<byte> token)
    {
        if (token.IsEmpty)
        {
            throw new SmbProtocolException("SPNEGO NegTokenResp is empty.");
        }
        try
        {
            var outer = new AsnReader(token, AsnEncodingRules.BER);
            var wrapper = outer.ReadSequence(NegTokenRespTag);
            outer.ThrowIfNotEmpty();
            var body = wrapper.ReadSequence();
            wrapper.ThrowIfNotEmpty();

            SpnegoNegState? negState = null;
            string? supportedMech = null;
            byte[]? responseToken = null;
            byte[]? mechListMic = null;
            var lastTag = -1;
            while (body.HasData)
            {
                var tag = body.PeekTag();
                if (tag.TagClass != TagClass.ContextSpecific || !tag.IsConstructed || tag.TagValue > 3)
                {
                    throw new SmbProtocolException($"SPNEGO NegTokenResp has an unexpected field {tag}.");
                }
                if (tag.TagValue <= lastTag)
                {
                    throw new SmbProtocolException($"SPNEGO NegTokenResp field [{tag.TagValue}] is out of order or repeated.");
                }
                lastTag = tag.TagValue;
                var field = body.ReadSequence(tag);
                switch (tag.TagValue)
                {
                    case 0:
                        var raw = field.ReadEnumeratedValue<SpnegoNegState>();
                        if (!Enum.IsDefined(raw))
                        {
                            throw new SmbProtocolException($"SPNEGO negState value {(int)raw} is not defined (0..3).");
                        }
                        negState = raw;
                        break;
                    case 1:
                        supportedMech = field.ReadObjectIdentifier();
                        break;
                    case 2:
                        responseToken = field.ReadOctetString();
                        break;
                    case 3:
                        mechListMic = field.ReadOctetString();
                        break;
                }
                field.ThrowIfNotEmpty();
            }
            return new SpnegoNegTokenResp
            {
                NegState = negState,
                SupportedMech = supportedMech,
                ResponseToken = responseToken,
                MechListMic = mechListMic,
            };
        }
        catch (AsnContentException ex)
        {
            throw new SmbProtocolException($"SPNEGO NegTokenResp is malformed DER: {ex.Message}", ex);
        }
    }

    private static Asn1Tag Ctx(int value) => new(TagClass.ContextSpecific, value, isConstructed: true);
}

using SmbLayer.Protocol;
using static SmbLayer.Tests.Protocol.WireTestHelpers;

namespace SmbLayer.Tests.Protocol;

/// <summary>Responses written byte by byte from the MS-SMB2 layouts (offsets are header-relative).</summary>
internal static class HandBuiltResponses
{
    public static readonly Guid LeaseKey = new("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    public static readonly Guid ParentKey = new("11111111-2222-3333-4444-555555555555");
    public static readonly Guid ServerGuid = new("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

    /// <summary>Header-relative position of the create-context chain in <see cref="CreateWithContexts"/>.</summary>
    public const int CreateChainOffset = 64 + 88;

    /// <summary>CREATE response (§2.2.14) granting a lease with MxAc, QFid, RqLs v2, DH2Q and DHnQ contexts.</summary>
    public static byte[] CreateWithContexts()
    {
        var chain = new Le()
            // MxAc response (§2.2.14.2.5): QueryStatus, MaximalAccess.
            .U32(32).U16(16).U16(4).U16(0).U16(24).U32(8).Raw("MxAc"u8).Zeros(4).U32(0).U32(0x001F01FF)
            // QFid response (§2.2.14.2.9): DiskFileId, VolumeId, Reserved(16).
            .U32(56).U16(16).U16(4).U16(0).U16(24).U32(32).Raw("QFid"u8).Zeros(4).U64(0x1234).U64(0x5678).Zeros(16)
            // RqLs v2 response (§2.2.14.2.11): 52 bytes, padded to 80 for the next context.
            .U32(80).U16(16).U16(4).U16(0).U16(24).U32(52).Raw("RqLs"u8).Zeros(4)
                .Guid(LeaseKey).U32(7).U32(2).U64(0).Guid(ParentKey).U16(5).U16(0).Zeros(4)
            // DH2Q response (§2.2.14.2.12): Timeout, Flags(PERSISTENT).
            .U32(32).U16(16).U16(4).U16(0).U16(24).U32(8).Raw("DH2Q"u8).Zeros(4).U32(60000).U32(2)
            // DHnQ response (§2.2.14.2.3): 8 reserved bytes; last context, Next = 0.
            .U32(0).U16(16).U16(4).U16(0).U16(24).U32(8).Raw("DHnQ"u8).Zeros(4).Zeros(8)
            .ToArray();
        var body = new Le()
            .U16(89).U8(0xFF).U8(0).U32(2)
            .U64(132000000000000000).U64(132000000000000001).U64(132000000000000002).U64(132000000000000003)
            .U64(4096).U64(100).U32(0x20).U32(0)
            .U64(0xAAAA).U64(0xBBBB)
            .U32(CreateChainOffset).U32((uint)chain.Length)
            .Raw(chain)
            .ToArray();
        return Response(Smb2Command.Create, body);
    }

    /// <summary>Lease break notification (§2.2.23.2).</summary>
    public static byte[] LeaseBreakNotification() => Response(Smb2Command.OplockBreak, new Le()
        .U16(44).U16(3).U32(1).Guid(LeaseKey).U32(7).U32(1).U32(0).U32(0).U32(0).ToArray());

    /// <summary>Oplock break notification (§2.2.23.1).</summary>
    public static byte[] OplockBreakNotification() => Response(Smb2Command.OplockBreak, new Le()
        .U16(24).U8(1).U8(0).U32(0).U64(0x10).U64(0x20).ToArray());

    /// <summary>Lease break response (§2.2.25.2).</summary>
    public static byte[] LeaseBreakResponse() => Response(Smb2Command.OplockBreak, new Le()
        .U16(36).U16(0).U32(0).Guid(LeaseKey).U32(1).U64(0).ToArray());

    /// <summary>IOCTL response (§2.2.32) carrying a VALIDATE_NEGOTIATE_INFO output (§2.2.32.6).</summary>
    public static byte[] IoctlValidateNegotiate() => Response(Smb2Command.Ioctl, new Le()
        .U16(49).U16(0).U32(0x00140204).U64(ulong.MaxValue).U64(ulong.MaxValue)
        .U32(112).U32(0).U32(112).U32(24).U32(0).U32(0)
        .U32(0x2F).Guid(ServerGuid).U16(1).U16(0x0302)
        .ToArray());

    /// <summary>WRITE response (§2.2.22).</summary>
    public static byte[] Write() => Response(Smb2Command.Write, new Le()
        .U16(17).U16(0).U32(65536).U32(0).U16(0).U16(0).ToArray());

    /// <summary>ERROR response (§2.2.2) with one 3.1.1 error context (§2.2.2.1).</summary>
    public static byte[] ErrorWithContext() => Response(Smb2Command.Create, new Le()
        .U16(9).U8(1).U8(0).U32(16)
        .U32(8).U32(0).U64(0x0102030405060708)
        .ToArray(), NtStatus.ObjectNameNotFound);

    public static byte[] SetInfo() => Response(Smb2Command.SetInfo, new Le().U16(2).ToArray());

    public static byte[] FourByte(Smb2Command command) => Response(command, new Le().U16(4).U16(0).ToArray());
}

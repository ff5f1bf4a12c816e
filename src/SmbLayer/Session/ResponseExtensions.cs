using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Session;

internal static class ResponseExtensions
{
    /// <summary>Throws the typed error for a failure status; <paramref name="what"/> says which operation on what.</summary>
    public static void ThrowIfFailed(this SmbResponse response, string what)
    {
        if (response.Status != NtStatus.Success)
        {
            throw SmbStatusException.Create(response.Status, what);
        }
    }
}
